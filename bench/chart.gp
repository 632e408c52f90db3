# Draws bench/results/chart.png from data.tsv; run.sh calls it as
#   gnuplot -e "data='…/data.tsv'; out='…/chart.png'; subtitle='…'" chart.gp
# One panel per figure, one bar per init, the value printed on each bar.
# Lower is better in every panel. "-" marks a figure a row does not have
# (the floor rows have no signal or idle figures).

set terminal pngcairo size 1500,1600 font "sans,10"
set output out
set datafile separator "\t"
set datafile missing "-"
set key autotitle columnhead
unset key
set style fill solid 0.85 border -1
set boxwidth 0.7
set grid ytics
set xtics nomirror rotate by -30 left
set ytics nomirror
set offsets 0.5, 0.5, graph 0.12, 0
set yrange [0:*]
set linetype 1 lc rgb "#d62728"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#6baed6"
set linetype 4 lc rgb "#2ca02c"
set linetype 5 lc rgb "#9467bd"
set linetype 6 lc rgb "#7f7f7f"
set linetype 7 lc rgb "#bdbdbd"

# panel(column): the plot command for one figure, bars and their values
fmt(v) = abs(v) >= 1000 ? sprintf("%.0f", v) : sprintf("%.3g", v)
panel(c) = sprintf("plot data using 0:%d:($0+1):xtic(1) with boxes lc variable, '' using 0:%d:(fmt(column(%d))) with labels offset 0,0.8", c, c, c)
# inits(c): the same for the first five rows only, the inits that forward
# signals (the floor rows have no signal or idle figures)
inits(c) = sprintf("plot data every ::0::4 using 0:%d:($0+1):xtic(1) with boxes lc variable, '' every ::0::4 using 0:%d:(fmt(column(%d))) with labels offset 0,0.8", c, c, c)

set multiplot layout 4,3 title "pidone benchmark: ".subtitle font "sans,13"

set title "CPU of the init process alone, /bin/true (µs, median)"
eval panel(18)

set title "page faults of the init process alone (median)"
eval panel(19)

set title "startup overhead vs bare /bin/true (µs, median)"
set yrange [*<0:*]
eval panel(5)
set yrange [0:*]

set title "orphan storm: wall time (ms, median)"
eval panel(6)

set title "orphan storm: CPU time of the init (ms, median)"
eval panel(10)

set title "orphan storm: peak zombies (median)"
eval panel(8)

set title "signal round trip, one CPU (µs, median)"
eval inits(11)

set title "signal round trip, two CPUs (µs, median)"
eval inits(13)

set title "idle wake-ups per 10 s"
eval inits(16)

set title "RSS while idle (KiB)"
eval inits(17)

set title "binary size (KiB)"
eval panel(2)

unset multiplot
