package main

// Trading servers keep their own time zones (an MT5 server's IANA zone, modules/trading/mt5), which must load on
// any image, including one without /usr/share/zoneinfo: the zone database is compiled into the binary (about
// 450 KB), and a zone installed on the host still wins.
import _ "time/tzdata"
