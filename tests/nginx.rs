//! A real program: nginx (Debian's package) under pidone as PID 1 of a
//! namespace. nginx stops gracefully on SIGQUIT and at once on SIGTERM, so
//! with `--rewrite TERM:QUIT` a `docker stop` lets a slow download finish;
//! without it the download is cut.
//!
//! The namespace has its own pids but the host's network: nginx listens on
//! 127.0.0.1 at a free port. The response is throttled with `limit_rate`,
//! and SIGTERM is sent once the client has received part of it (synchronised
//! on bytes, not on time).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

const NGINX: &str = "/usr/sbin/nginx";
/// The file downloaded: 20 MiB at 8 MiB/s, about 2.5 seconds.
const SIZE: u64 = 20 << 20;
const RATE: &str = "8m";
/// SIGTERM is sent once this much of the body has arrived.
const IN_FLIGHT: u64 = 1 << 20;

/// A directory of its own for one nginx: config, logs, pid file, temp
/// paths and the document root. World-readable, in case workers drop to
/// another user; removed on drop.
struct Site {
    dir: PathBuf,
    port: u16,
}

impl Site {
    fn new(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("pidone-nginx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www")).expect("create the site");
        // A free port, as the kernel hands one out; released for nginx.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let d = dir.display();
        let conf = format!(
            "user root;\n\
             worker_processes 1;\n\
             daemon off;\n\
             master_process on;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
                 access_log {d}/access.log;\n\
                 client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 server {{\n\
                     listen 127.0.0.1:{port};\n\
                     root {d}/www;\n\
                     location / {{ limit_rate {RATE}; }}\n\
                 }}\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        let big = std::fs::File::create(dir.join("www/big")).expect("create the file");
        big.set_len(SIZE).expect("size the file");
        for path in [&dir, &dir.join("www"), &dir.join("www/big")] {
            chmod(path, 0o755);
        }
        Site { dir, port }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The arguments for pidone: its own `extra` options, then nginx.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let conf = self.dir.join("nginx.conf");
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(["--".into(), NGINX.into(), "-p".into()]);
        args.push(self.dir.display().to_string());
        args.extend([
            "-e".into(),
            self.dir.join("error.log").display().to_string(),
        ]);
        args.extend(["-c".into(), conf.display().to_string()]);
        args
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// What the client got.
#[derive(Debug)]
struct Download {
    status: u16,
    content_length: u64,
    body: u64,
}

/// Starts `GET /big` in a thread that counts the body bytes into `progress`
/// as they arrive.
fn start_download(
    port: u16,
    progress: Arc<AtomicU64>,
) -> std::thread::JoinHandle<std::io::Result<Download>> {
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(LIMIT))?;
        stream.write_all(b"GET /big HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut content_length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut buf = vec![0u8; 64 << 10];
        let mut body = 0;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    body += n as u64;
                    progress.store(body, Ordering::Relaxed);
                }
                // A cut connection may end in a reset rather than an EOF.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            }
        }
        Ok(Download {
            status,
            content_length,
            body,
        })
    })
}

/// Runs nginx under pidone (PID 1, `extra` options), starts the download,
/// sends SIGTERM to pidone mid-way and returns what the client got and how
/// pidone ended.
fn download_through_sigterm(name: &str, extra: &[&str]) -> Option<(Download, Outcome)> {
    if skip_unless(Path::new(NGINX).exists(), "nginx (/usr/sbin/nginx)") {
        return None;
    }
    let site = Site::new(name);
    let mut p = Running::start(Mode::Pid1, &site.args(extra));

    // nginx says nothing on stdout. It writes its pid file once its
    // listening socket is open. (A connect alone is no proof: to a free
    // port in the ephemeral range, a connect can meet itself, and under
    // qemu-user nginx takes long enough for that to happen.)
    let deadline = Instant::now() + LIMIT;
    let pid_file = site.dir.join("nginx.pid");
    while !std::fs::metadata(&pid_file).is_ok_and(|m| m.len() > 0) {
        if Instant::now() > deadline {
            let log = site.error_log();
            p.fail(&format!(
                "nginx never wrote its pid file\n--- error.log ---\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let progress = Arc::new(AtomicU64::new(0));
    let client = start_download(site.port, progress.clone());
    while progress.load(Ordering::Relaxed) < IN_FLIGHT {
        if client.is_finished() || Instant::now() > deadline {
            let log = site.error_log();
            let client = if client.is_finished() {
                format!("{:?}", client.join())
            } else {
                "still waiting".to_owned()
            };
            p.fail(&format!(
                "the download never got going (client: {client})\n--- error.log ---\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let at_signal = progress.load(Ordering::Relaxed);
    p.signal(libc::SIGTERM);

    let download = client
        .join()
        .expect("client thread")
        .unwrap_or_else(|e| panic!("download failed: {e}\n{}", site.error_log()));
    let outcome = p.finish();
    eprintln!(
        "nginx {extra:?}: SIGTERM at {at_signal} bytes; got status {} and {} of {} bytes; \
         pidone exited {:?}",
        download.status,
        download.body,
        download.content_length,
        outcome.code()
    );
    assert!(at_signal < SIZE, "the download was over before SIGTERM");
    Some((download, outcome))
}

#[test]
fn rewritten_sigterm_lets_nginx_finish_a_slow_request() {
    let Some((download, outcome)) = download_through_sigterm("quit", &["--rewrite", "TERM:QUIT"])
    else {
        return;
    };
    assert_eq!(download.status, 200, "{download:?}\n{outcome}");
    assert_eq!(download.content_length, SIZE, "{download:?}");
    assert_eq!(
        download.body, SIZE,
        "the request was cut: {download:?}\n{outcome}"
    );
    outcome.assert_code(0);
}

#[test]
fn plain_sigterm_cuts_nginx_requests_short() {
    let Some((download, outcome)) = download_through_sigterm("term", &[]) else {
        return;
    };
    assert_eq!(download.status, 200, "{download:?}\n{outcome}");
    assert!(
        download.body < SIZE,
        "the request was not cut: {download:?}\n{outcome}"
    );
}
