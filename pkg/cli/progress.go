package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/state"
)

// logProgress turns a run's events into structured log lines: what a
// pipeline or a log collector wants.
type logProgress struct{ log zerolog.Logger }

func (l logProgress) Event(ev engine.Event) {
	var e *zerolog.Event
	switch ev.Kind {
	case engine.StepStarted:
		e = l.log.Debug()
	case engine.StepRetry:
		e = l.log.Warn().Err(ev.Err).Int("attempt", ev.Attempt)
	case engine.StepFailed:
		e = l.log.Error().Err(ev.Err).Int("attempt", ev.Attempt)
	case engine.AppDone:
		if ev.Status == state.Done {
			e = l.log.Info()
		} else {
			e = l.log.Warn()
		}
	case engine.RunPaused:
		e = l.log.Warn()
	default:
		e = l.log.Info()
	}
	e = e.Str("event", string(ev.Kind))
	for k, v := range map[string]string{"wave": ev.Wave, "app": ev.App, "unit": ev.Unit, "step": ev.Step, "status": string(ev.Status)} {
		if v != "" {
			e = e.Str(k, v)
		}
	}
	if ev.Kind == engine.RunStarted {
		e = e.Int("applications", ev.Total.Apps).Int("vms", ev.Total.Units).Int("steps", ev.Total.Steps)
	}
	e.Msg(ev.Message)
}

// barProgress draws progress bars on a terminal: the whole run, each wave,
// the conveyor, and each application in flight with its current step.
//
// It never blocks the work it shows. The engine's goroutines only hand
// their events to a channel; one goroutine drains it and is the only one
// that touches the bars. mpb's render loop, which Bar.Increment waits on,
// reads an application's current step from an atomic value, so it can
// never wait for anything the event side holds. (An earlier version held
// one mutex in Event, across Increment, that the render loop's decorator
// also wanted: apply froze on a terminal in about 7 runs of 23.)
type barProgress struct {
	p      *mpb.Progress
	events chan barItem
	done   chan struct{}

	mu     sync.Mutex // guards closed, and sends against the close
	closed bool

	// Owned by the drain goroutine.
	waveOf  map[string]string
	overall *mpb.Bar
	groups  map[string]*mpb.Bar // by wave name; "" is the conveyor
	apps    map[string]*appBar
	totals  engine.Totals
}

// barItem is an engine event, or a notice to print above the bars.
type barItem struct {
	ev     engine.Event
	notice string
}

type appBar struct {
	bar     *mpb.Bar
	current atomic.Pointer[string]
}

func (a *appBar) set(s string) { a.current.Store(&s) }

func (a *appBar) label(decor.Statistics) string {
	if s := a.current.Load(); s != nil {
		return *s
	}
	return ""
}

func newBarProgress(w io.Writer, waveOf map[string]string) *barProgress {
	b := &barProgress{
		p: mpb.New(mpb.WithConsoleWriter(columnZero{cupwriter.New(w, false)}), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond),
			// Drawn even when w is no terminal: --progress bars asks for it.
			mpb.WithAutoRefresh()),
		events: make(chan barItem, 256), done: make(chan struct{}),
		waveOf: waveOf, groups: map[string]*mpb.Bar{}, apps: map[string]*appBar{},
	}
	go b.drain()
	return b
}

// columnZero is mpb's own console writer with a carriage return before
// each redraw. A redraw moves the cursor up over the last frame and erases
// from there to the end of the screen, but keeps the cursor's column:
// whatever the terminal echoed since the last frame (the "^C" of a
// Ctrl-C, a key pressed) leaves the cursor a few columns right, so the
// start of the old frame's top line stayed in front of the next one
// ("ovstopping: ..."). Returning to column 0 first erases all of it.
type columnZero struct{ *cupwriter.Writer }

func (c columnZero) Flush(lines int) error {
	if err := c.Writer.Flush(lines); err != nil {
		return err
	}
	// Flush wrote the frame out and left only the next redraw's cursor
	// movement in the buffer (nothing when the output is no terminal).
	if c.Len() == 0 {
		return nil
	}
	next := append([]byte{'\r'}, c.Bytes()...)
	c.Reset()
	_, err := c.Write(next)
	return err
}

// Event hands ev to the display. It may wait for the drain goroutine to
// take it, never for the render loop.
func (b *barProgress) Event(ev engine.Event) { b.send(barItem{ev: terminalEvent(ev)}) }

// Notice prints a line above the bars, where the next frame does not draw
// over it: the "stopping:" message after Ctrl-C.
func (b *barProgress) Notice(msg string) { b.send(barItem{notice: msg}) }

// Write prints p (one log line) above the bars, as Notice does.
func (b *barProgress) Write(p []byte) (int, error) {
	b.Notice(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (b *barProgress) send(it barItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.events <- it
	}
}

func (b *barProgress) drain() {
	defer close(b.done)
	for it := range b.events {
		if it.notice != "" {
			b.print(it.notice)
			continue
		}
		b.handle(it.ev)
	}
}

func (b *barProgress) print(line string) { _, _ = b.p.Write([]byte(line + "\n")) }

func (b *barProgress) group(name string) *mpb.Bar {
	if bar := b.groups[name]; bar != nil {
		return bar
	}
	n, done := 0, 0
	for app, steps := range b.totals.AppSteps {
		if b.waveOf[app] == name {
			n += steps
			done += b.totals.AppDone[app]
		}
	}
	label := "wave " + name
	if name == "" {
		label = "conveyor"
	}
	bar := b.p.AddBar(int64(n), mpb.BarPriority(1),
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d steps", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)))
	bar.SetCurrent(int64(done))
	b.groups[name] = bar
	return bar
}

func (b *barProgress) handle(ev engine.Event) {
	switch ev.Kind {
	case engine.RunStarted:
		b.totals = ev.Total
		b.overall = b.p.AddBar(int64(ev.Total.Steps), mpb.BarPriority(0),
			mpb.PrependDecorators(decor.Name("overall", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d steps", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
		b.overall.SetCurrent(int64(ev.Total.DoneSteps))
		for app := range ev.Total.AppSteps {
			if b.waveOf[app] == "" {
				b.group("") // the conveyor's bar, from the start
				break
			}
		}
	case engine.WaveStarted:
		b.group(ev.Wave)
	case engine.AppStarted:
		ab := &appBar{}
		ab.set("starting")
		ab.bar = b.p.AddBar(int64(b.totals.AppSteps[ev.App]), mpb.BarPriority(2), mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name("  "+ev.App, decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(ab.label)))
		ab.bar.SetCurrent(int64(b.totals.AppDone[ev.App]))
		b.apps[ev.App] = ab
	case engine.StepStarted:
		if ab := b.apps[ev.App]; ab != nil {
			ab.set(stepLabel(ev))
		}
	case engine.StepRetry:
		if ab := b.apps[ev.App]; ab != nil {
			ab.set(fmt.Sprintf("%s: retry %d after %v", stepLabel(ev), ev.Attempt, ev.Err))
		}
	case engine.StepDone:
		b.incr(ev)
	case engine.StepFailed:
		b.print(fmt.Sprintf("failed: %s: %s: %v", ev.App, stepLabel(ev), ev.Err))
	case engine.AppDone:
		if ab := b.apps[ev.App]; ab != nil {
			ab.bar.Abort(true)
			delete(b.apps, ev.App)
		}
		if ev.Status != state.Done {
			b.print(fmt.Sprintf("%s %s: %s", ev.App, ev.Status, ev.Message))
		}
	case engine.WaveDone:
		if wb := b.groups[ev.Wave]; wb != nil && !wb.Completed() {
			wb.Abort(false)
		}
	case engine.RunPaused:
		b.print("paused: " + ev.Message)
	}
}

func (b *barProgress) incr(ev engine.Event) {
	if b.overall != nil {
		b.overall.Increment()
	}
	if _, ok := b.totals.AppSteps[ev.App]; ok {
		b.group(b.waveOf[ev.App]).Increment()
	}
	if ab := b.apps[ev.App]; ab != nil {
		ab.bar.Increment()
	}
}

// Wait stops taking events, lets the bars draw their last frame, and
// ends every bar still open (after an interrupt some never complete), so
// that it always returns.
func (b *barProgress) Wait() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.events)
	}
	b.mu.Unlock()
	<-b.done
	for _, ab := range b.apps {
		ab.bar.Abort(false)
	}
	for _, g := range b.groups {
		if !g.Completed() {
			g.Abort(false)
		}
	}
	if b.overall != nil && !b.overall.Completed() {
		b.overall.Abort(false)
	}
	b.p.Wait()
}

func stepLabel(ev engine.Event) string {
	if ev.Unit == "" {
		return ev.Step
	}
	return ev.Step + " " + ev.Unit
}
