package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wavectl/wavectl/pkg/report"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
	"github.com/wavectl/wavectl/pkg/term"
)

// watchPoll is how often status --watch looks at a state file, and at a
// database between notifications (in case one was lost).
var watchPoll = time.Second

// statusWatch shows the record again whenever it changes, until Ctrl-C:
// from a database it wakes on the journal's notifications (LISTEN/NOTIFY),
// from a file it polls. On a terminal each view replaces the last; with
// -o json each is one line (a JSON document), for a pipeline.
func statusWatch(ctx context.Context, opts *StatusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var db *postgres.Backend
	if isDatabase(opts.State) {
		b, closeB, err := openBackend(ctx, opts.State, "")
		if err != nil {
			return err
		}
		defer closeB()
		db = b.(*postgres.Backend)
	}
	var lastSerial int64 = -1
	for {
		st, path, err := readState(opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if st.Serial != lastSerial {
			lastSerial = st.Serial
			if err := showStatus(opts, st, path); err != nil {
				return err
			}
		}
		if db != nil {
			name := db.Programme()
			if name == "" {
				name = st.Plan
			}
			err = db.DB().Wait(ctx, name, st.Serial, 10*watchPoll)
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(watchPoll):
			}
		}
		if ctx.Err() != nil {
			return nil // Ctrl-C ends a watch; it is not a failure
		}
		if err != nil {
			return databaseError(err)
		}
	}
}

func showStatus(opts *StatusOptions, st *state.State, path string) error {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	r := report.StatusWith(st, now(), report.Options{StatePath: path})
	var buf bytes.Buffer
	if opts.Output == "json" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
		_, err = opts.IO.Out.Write(buf.Bytes())
		return err
	}
	if err := report.WriteText(&buf, r, opts.Detail); err != nil {
		return err
	}
	if opts.IO.OutTTY {
		fmt.Fprint(term.Raw(opts.IO.Out), "\x1b[H\x1b[2J") // home, clear: the new view replaces the last
	} else {
		buf.WriteString("\n")
	}
	_, err := opts.IO.Out.Write(buf.Bytes())
	return err
}
