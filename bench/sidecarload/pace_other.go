//go:build !linux

package main

import "time"

// pacer sleeps with Go's timers where there is no nanosleep to use.
type pacer struct{}

func newPacer() pacer           { return pacer{} }
func (pacer) until(t time.Time) { time.Sleep(time.Until(t)) }
func (pacer) done()             {}
