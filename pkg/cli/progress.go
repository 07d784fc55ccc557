package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
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
// and each application in flight with its current step.
type barProgress struct {
	p   *mpb.Progress
	out io.Writer

	mu      sync.Mutex
	overall *mpb.Bar
	waves   map[string]*mpb.Bar
	apps    map[string]*appBar
	steps   map[string]int // steps per application
	waveOf  map[string]string
	waveN   map[string]int
}

type appBar struct {
	bar     *mpb.Bar
	current string
}

func newBarProgress(w io.Writer, stepsPerApp map[string]int, waveOf map[string]string) *barProgress {
	waveN := map[string]int{}
	for app, n := range stepsPerApp {
		waveN[waveOf[app]] += n
	}
	return &barProgress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond)),
		out: w, waves: map[string]*mpb.Bar{}, apps: map[string]*appBar{}, steps: stepsPerApp, waveOf: waveOf, waveN: waveN}
}

func (b *barProgress) Event(ev engine.Event) {
	ev = terminalEvent(ev)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev.Kind {
	case engine.RunStarted:
		b.overall = b.p.AddBar(int64(ev.Total.Steps), mpb.BarPriority(0),
			mpb.PrependDecorators(decor.Name("overall", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d steps", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
	case engine.WaveStarted:
		b.waves[ev.Wave] = b.p.AddBar(int64(b.waveN[ev.Wave]), mpb.BarPriority(1),
			mpb.PrependDecorators(decor.Name("wave "+ev.Wave, decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d steps", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)))
	case engine.AppStarted:
		ab := &appBar{current: "starting"}
		ab.bar = b.p.AddBar(int64(b.steps[ev.App]), mpb.BarPriority(2), mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name("  "+ev.App, decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				b.mu.Lock()
				defer b.mu.Unlock()
				return ab.current
			})))
		b.apps[ev.App] = ab
	case engine.StepStarted:
		if ab := b.apps[ev.App]; ab != nil {
			ab.current = stepLabel(ev)
		}
	case engine.StepRetry:
		if ab := b.apps[ev.App]; ab != nil {
			ab.current = fmt.Sprintf("%s: retry %d after %v", stepLabel(ev), ev.Attempt, ev.Err)
		}
	case engine.StepDone:
		b.incr(ev)
	case engine.StepFailed:
		_, _ = b.p.Write([]byte(fmt.Sprintf("failed: %s: %s: %v\n", ev.App, stepLabel(ev), ev.Err)))
	case engine.AppDone:
		if ab := b.apps[ev.App]; ab != nil {
			ab.bar.Abort(true)
			delete(b.apps, ev.App)
		}
		if ev.Status != state.Done {
			_, _ = b.p.Write([]byte(fmt.Sprintf("%s %s: %s\n", ev.App, ev.Status, ev.Message)))
		}
	case engine.WaveDone:
		if wb := b.waves[ev.Wave]; wb != nil {
			wb.Abort(false)
		}
	case engine.RunPaused:
		_, _ = b.p.Write([]byte("paused: " + ev.Message + "\n"))
	case engine.RunDone:
		if b.overall != nil && !b.overall.Completed() {
			b.overall.Abort(false)
		}
	}
}

func (b *barProgress) incr(ev engine.Event) {
	if b.overall != nil {
		b.overall.Increment()
	}
	if wb := b.waves[b.waveOf[ev.App]]; wb != nil {
		wb.Increment()
	}
	if ab := b.apps[ev.App]; ab != nil {
		ab.bar.Increment()
	}
}

// Wait lets the bars draw their last frame.
func (b *barProgress) Wait() { b.p.Wait() }

func stepLabel(ev engine.Event) string {
	if ev.Unit == "" {
		return ev.Step
	}
	return ev.Step + " " + ev.Unit
}
