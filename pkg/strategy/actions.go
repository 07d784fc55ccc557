package strategy

import (
	"context"
	"fmt"
)

// ActionFor returns how step st of application rt.App is carried out.
// (Being written: every kind returns an error until then.)
func ActionFor(st Step) Action {
	return Action{Do: func(ctx context.Context, rt *Runtime) error {
		return fmt.Errorf("step %s: not implemented yet", st.Kind)
	}}
}
