package state

import "time"

// Pacer spaces a store writer's commits while updates arrive back to back,
// so that a busy run makes fewer, bigger commits (group commit with a
// commit delay, as PostgreSQL's commit_delay or bbolt's Batch). Every
// update still returns only once the commit that holds it is durable: the
// pacer only decides when the writer starts that commit, never whether an
// update waits for it.
//
// The writer starts a commit no sooner than Delay after the previous one
// ended, where Delay is the recent commits' cost times (1/Share - 1), at
// most Max: while updates keep coming, the writer spends about Share of the
// time committing, and an update waits at most Max longer than it would
// have. An update to a store that has been idle for Delay is committed at
// once, and so is every update of a lone updater, which, blocked until its
// commit, has nobody to group with: a writer whose wait brought no other
// update stops waiting, until a commit made without waiting holds more
// than one (updates from several goroutines at once). A writer of cheap commits (a local disk) waits little; one of dear
// ones (a database on a busy machine) waits longer and groups more.
//
// A Pacer is its writer's own: it is not safe for concurrent use.
type Pacer struct {
	// Share is the share of a busy run the writer aims to spend committing;
	// 0 commits at once, always (no pacing).
	Share float64
	// Max bounds the wait, and so the latency it adds to an update.
	Max time.Duration

	cost time.Duration // a moving average of the commits' cost
	last time.Time     // when the last commit ended
	// waiting says the writer waits: updates came from several goroutines
	// at once, and the last wait brought more.
	waiting bool
	waited  bool // the next commit was waited for
}

// Pace is the default pacing of the stores' writers: about 4 % of a busy
// run committing (the target is 5 %, and snapshots need some), an update
// delayed by at most 100 ms, which a step of a migration (seconds to
// hours of vCenter work) does not notice.
var Pace = Pacer{Share: 0.04, Max: 100 * time.Millisecond}

// Delay is how long the writer, woken by an update at now, waits for more
// updates to join the commit before it starts it.
func (p *Pacer) Delay(now time.Time) time.Duration {
	p.waited = false
	if p.Share <= 0 || p.Share >= 1 || !p.waiting {
		return 0
	}
	gap := min(time.Duration(float64(p.cost)*(1/p.Share-1)), p.Max)
	if since := now.Sub(p.last); since < gap {
		p.waited = true
		return gap - since
	}
	return 0
}

// Committed records a commit of n updates that took from start to end.
func (p *Pacer) Committed(start, end time.Time, n int) {
	switch {
	case p.waited && n < 2:
		p.waiting = false // waiting brought nobody: a lone updater
	case !p.waited && n >= 2:
		p.waiting = true
	}
	p.waited = false
	c := end.Sub(start)
	if p.cost == 0 {
		p.cost = c
	} else {
		p.cost = (4*p.cost + c) / 5
	}
	p.last = end
}

// Wait waits d, or until kick is closed (the store is closing: what is
// pending is committed at once); it reports whether kick was closed. The
// writer that waits holds the only pending commit, so no update sends on
// kick meanwhile; a stray wake-up is ignored.
func Wait(d time.Duration, kick <-chan struct{}) (closed bool) {
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return false
		case _, open := <-kick:
			if !open {
				return true
			}
		}
	}
}
