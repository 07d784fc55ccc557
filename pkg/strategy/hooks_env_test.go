package strategy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/strategy"
)

func TestHooksNeverSeeVCenterPasswords(t *testing.T) {
	t.Setenv("GOVC_PASSWORD", "govc-secret")
	t.Setenv("WAVECTL_PASSWORD", "wavectl-secret")
	t.Setenv("WAVECTL_VCENTER_CROWN_PASSWORD", "crown-secret")
	t.Setenv("GOVC_URL", "https://admin:url-secret@vc.example/sdk")
	t.Setenv("WAVECTL_URL", "admin:url-secret@vc.example")
	t.Setenv("WAVECTL_DB_TOKEN", "token-secret")
	dir := t.TempDir()
	p, a := hookPlan(t, `{verify: ["env > env.txt"]}`)
	h := &strategy.ShellHooks{Dir: dir}
	if err := h.Run(context.Background(), "verify", &strategy.Runtime{Plan: p, App: a, Unit: "web-1", Outputs: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "secret") {
		t.Errorf("a hook's environment holds a vCenter password:\n%s", env)
	}
	if !strings.Contains(string(env), "GOVC_URL=https://admin:***@vc.example/sdk") {
		t.Errorf("a hook's environment lost the rest of the process's environment:\n%s", env)
	}
}
