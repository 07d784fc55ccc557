package vsphere

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// changeTasks are the tasks wavectl's changes run, by the last part of
// their description id ("VirtualMachine.clone" in vCenter, and
// "VirtualMachine.cloneVm" in govmomi's simulator): a run killed while one
// runs leaves it running in vCenter.
var changeTasks = map[string]bool{
	"clone": true, "cloneVm": true, "createVm": true, "importVApp": true, "relocate": true, "relocateVm": true,
	"reconfigure": true, "reconfigVm": true, "upgradeVm": true, "powerOn": true, "powerOff": true, "reset": true,
	"createSnapshot": true, "createSnapshotEx": true, "revertToSnapshot": true, "revert": true,
	"revertToCurrentSnapshot": true, "revertSnapshot": true, "removeSnapshot": true, "removeAllSnapshots": true,
	"destroy": true, "rename": true, "moveIntoFolder": true, "customize": true, "customizeVm": true,
}

// simulatorUser is the user govmomi's simulator records for every task,
// whoever started it.
const simulatorUser = "vcsim"

// WaitForTasks waits, up to timeout, for the change tasks that the user
// this driver is logged in as started and that are still running in
// vCenter: the tasks of a run that was killed, which a resumed run or a
// rollback must not race (a clone that completes after a rollback looked
// for its VM leaves an orphan). It returns how many it waited for.
func (g *Govmomi) WaitForTasks(ctx context.Context, timeout time.Duration) (int, error) {
	user := ""
	if s, err := session.NewManager(g.c).UserSession(ctx); err == nil && s != nil {
		user = s.UserName
	}
	var tm mo.TaskManager
	pc := property.DefaultCollector(g.c)
	if err := pc.RetrieveOne(ctx, *g.c.ServiceContent.TaskManager, []string{"recentTask"}, &tm); err != nil {
		return 0, g.fault("read-tasks", "TaskManager", err)
	}
	if len(tm.RecentTask) == 0 {
		return 0, nil
	}
	var tasks []mo.Task
	if err := pc.Retrieve(ctx, tm.RecentTask, []string{"info"}, &tasks); err != nil {
		return 0, g.fault("read-tasks", "TaskManager", err)
	}
	var running []types.TaskInfo
	for _, t := range tasks {
		info := t.Info
		if info.State != types.TaskInfoStateRunning && info.State != types.TaskInfoStateQueued {
			continue
		}
		kind := info.DescriptionId[strings.LastIndexByte(info.DescriptionId, '.')+1:]
		if !changeTasks[kind] && !changeTasks[lcFirst(info.Name)] {
			continue
		}
		if r, ok := info.Reason.(*types.TaskReasonUser); ok && user != "" && r.UserName != user && r.UserName != simulatorUser {
			continue // another user's
		}
		running = append(running, info)
	}
	if len(running) == 0 {
		return 0, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, info := range running {
		// The task's own failure is no concern here: the step's check
		// reads what it left.
		if _, err := g.waitTask(wctx, object.NewTask(g.c, info.Task)); err != nil && !taskFailed(err) {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("vCenter %s: task %s (%s on %s) still runs after %s: wait for it to end, then run again", g.name, info.Task.Value, info.Name, info.EntityName, timeout)
		}
	}
	return len(running), nil
}

func lcFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
