module github.com/keycard-gw/keycard/bench

go 1.26.0

require github.com/keycard-gw/keycard v0.0.0

replace github.com/keycard-gw/keycard => ../
