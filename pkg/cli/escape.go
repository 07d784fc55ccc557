package cli

import (
	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/term"
)

// terminalEvent is ev with everything that came from the plan, vCenter or
// a hook (names, step, message, error) escaped for a terminal (see
// package term): what progress bars draw must not move the cursor, clear
// the screen or overwrite a line.
func terminalEvent(ev engine.Event) engine.Event {
	ev.Wave, ev.App, ev.Unit, ev.Step = term.Escape(ev.Wave), term.Escape(ev.App), term.Escape(ev.Unit), term.Escape(ev.Step)
	ev.Message = term.Escape(ev.Message)
	if ev.Err != nil {
		ev.Err = escapedError{ev.Err}
	}
	return ev
}

// escapedError shows an error's text escaped for a terminal, and keeps
// the error for errors.Is and errors.As.
type escapedError struct{ err error }

func (e escapedError) Error() string { return term.Escape(e.err.Error()) }
func (e escapedError) Unwrap() error { return e.err }
