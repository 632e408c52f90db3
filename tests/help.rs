//! `--help` is `pidone::command_line()`: the clap definition that
//! `cargo xtask dist` makes the man page from (xtask/src/man.rs checks the
//! page against that definition), so the page cannot drift from `--help`.

mod support;
use support::*;

#[test]
fn help_is_the_definition_the_man_page_is_made_from() {
    let out = run(Mode::Subreaper, &["--help"]);
    out.assert_code(0);
    let definition = pidone::command_line().render_help().to_string();
    assert_eq!(
        out.stdout.trim_end(),
        definition.trim_end(),
        "the binary's --help differs from pidone::command_line()\n{out}"
    );
}
