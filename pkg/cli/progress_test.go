package cli

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/state"
)

// syncBuffer is a buffer the display's goroutines may write while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTheBarsTakeEventsFromManyGoroutinesAndAlwaysEnd sends thousands of
// events from 16 goroutines, as the engine's workers do, with notices in
// between, and leaves applications unfinished, as a second Ctrl-C does:
// Wait must still return, and the notices be printed. A hang fails after a
// generous deadline; nothing is timed.
func TestTheBarsTakeEventsFromManyGoroutinesAndAlwaysEnd(t *testing.T) {
	const apps, steps = 64, 40
	waveOf := map[string]string{}
	tot := engine.Totals{AppSteps: map[string]int{}, AppDone: map[string]int{}}
	for i := range apps {
		name := fmt.Sprintf("app-%02d", i)
		if i%4 == 0 {
			waveOf[name] = "" // the conveyor
		} else {
			waveOf[name] = "w1"
		}
		tot.AppSteps[name] = steps
		tot.AppDone[name] = 3 // a resumed run
		tot.Steps += steps
		tot.DoneSteps += 3
	}
	out := &syncBuffer{}
	b := newBarProgress(out, waveOf)
	b.Event(engine.Event{Kind: engine.RunStarted, Total: tot})
	b.Event(engine.Event{Kind: engine.WaveStarted, Wave: "w1"})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < apps; i += 16 {
				name := fmt.Sprintf("app-%02d", i)
				b.Event(engine.Event{Kind: engine.AppStarted, App: name, Wave: waveOf[name]})
				for s := 3; s < steps; s++ {
					b.Event(engine.Event{Kind: engine.StepStarted, App: name, Unit: "vm", Step: fmt.Sprint("step-", s)})
					b.Event(engine.Event{Kind: engine.StepDone, App: name, Unit: "vm", Step: fmt.Sprint("step-", s)})
				}
				if i%3 != 0 { // the others never finish: abandoned in flight
					b.Event(engine.Event{Kind: engine.AppDone, App: name, Status: state.Done})
				}
			}
		}()
	}
	b.Notice("stopping: nothing new starts")
	wg.Wait()
	ended := make(chan struct{})
	go func() { b.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("the progress display did not end within a minute of the run's last event")
	}
	if !strings.Contains(out.String(), "stopping: nothing new starts") {
		t.Errorf("the notice was not printed:\n%s", out.String())
	}
	// Events after Wait (a late signal) are dropped, not a panic.
	b.Notice("late")
	b.Event(engine.Event{Kind: engine.RunDone})
}
