package winfw

// A simulated Task Scheduler: the ScheduledTasks cmdlets that portwarden's
// commit-confirmed scripts use, and a service that runs registered tasks
// at their trigger time with a real timer, in the simulated host's own
// process, whatever became of the WinRM shell that registered them. Tasks
// are kept in tasks.json next to the rule store, so they survive a restart
// of the simulated host (a reboot): a one-time trigger that passed while
// the host was down runs at start only with StartWhenAvailable, as on
// Windows.
//
// The parameters of the cmdlets are those of Windows Server's
// ScheduledTasks module for the parameter sets modeled; any other
// parameter is refused loudly, mandatory ones are enforced, and
// Unregister-ScheduledTask without -Confirm:$false fails, since the
// cmdlet asks for confirmation and powershell.exe -NonInteractive cannot
// ask. An action runs only if it is powershell.exe at its real path; its
// arguments are read as lab/wsman reads a WinRS command's powershell.exe
// (wsman.PowerShellArgs), and a script that would come from standard
// input is refused. The script runs against the firewall with the same
// interpreter as a WinRM command. Whatever a failing action changed stays changed, the task
// stays registered with its LastTaskResult, as on Windows. The simulated
// host is on AC power, so the battery settings change nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portwarden/portwarden/lab/wsman"
)

// Task is one registered scheduled task, as tasks.json keeps it.
type Task struct {
	Path, Name         string // "\portwarden\", "apply.0123456789ab"
	Execute, Arguments string
	At                 time.Time // the one-time trigger
	UserID             string
	SID                string `json:",omitempty"` // UserID resolved
	LogonType          string
	RunLevel           string
	StartWhenAvailable bool
	ExecutionTimeLimit time.Duration
	// State is "Ready" or "Running"; Ran says the trigger fired.
	State          string
	Ran            bool
	LastRunTime    time.Time `json:",omitzero"`
	LastTaskResult int64
}

// Task Scheduler's result codes (LastTaskResult).
const (
	taskHasNotRun     = 0x41303    // SCHED_S_TASK_HAS_NOT_RUN
	taskFileNotFound  = 0x80070002 // the action's program does not exist
	taskTerminated    = 0x41306    // SCHED_S_TASK_TERMINATED: ExecutionTimeLimit
	powershellBadArgs = 0xFFFD0000 // powershell.exe's exit code for bad parameters
)

// powershellExe is where Windows keeps Windows PowerShell 5.1.
const powershellExe = `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`

// scheduler is the task service of one simulated host.
type scheduler struct {
	mu      sync.Mutex
	timers  map[string]*time.Timer
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

func taskKey(path, name string) string { return strings.ToLower(path + name) }

func (f *Firewall) tasksPath() string { return filepath.Join(f.opts.StateDir, "tasks.json") }

func (f *Firewall) loadTasks() ([]Task, error) {
	b, err := os.ReadFile(f.tasksPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ts []Task
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("winfw: reading %s: %w", f.tasksPath(), err)
	}
	return ts, nil
}

func (f *Firewall) saveTasks(ts []Task) error { return writeJSON(f.tasksPath(), ts) }

// withTasks changes the task store under the scheduler's lock.
func (f *Firewall) withTasks(fn func(ts []Task) ([]Task, bool, error)) error {
	f.sched.mu.Lock()
	defer f.sched.mu.Unlock()
	ts, err := f.loadTasks()
	if err != nil {
		return err
	}
	ts, changed, err := fn(ts)
	if changed {
		if serr := f.saveTasks(ts); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

// Tasks returns the registered tasks, for tests.
func (f *Firewall) Tasks() ([]Task, error) {
	f.sched.mu.Lock()
	defer f.sched.mu.Unlock()
	return f.loadTasks()
}

// startScheduler arms a timer for every task that has yet to run: at its
// trigger, or at once for a trigger that passed while the host was down,
// when the task may start late (StartWhenAvailable).
func (f *Firewall) startScheduler() error {
	f.sched.ctx, f.sched.cancel = context.WithCancel(context.Background())
	f.sched.timers = map[string]*time.Timer{}
	return f.withTasks(func(ts []Task) ([]Task, bool, error) {
		changed := false
		for i := range ts {
			t := &ts[i]
			if t.State == "Running" {
				// The host went down while it ran: the run is lost.
				t.State, changed = "Ready", true
			}
			if t.Ran {
				continue
			}
			if time.Until(t.At) <= 0 && !t.StartWhenAvailable {
				continue
			}
			f.armLocked(*t)
		}
		return ts, changed, nil
	})
}

// armLocked starts t's timer; f.sched.mu is held.
func (f *Firewall) armLocked(t Task) {
	key := taskKey(t.Path, t.Name)
	if old := f.sched.timers[key]; old != nil {
		old.Stop()
	}
	f.sched.timers[key] = time.AfterFunc(max(0, time.Until(t.At)), func() { f.fire(t.Path, t.Name) })
}

func (f *Firewall) disarmLocked(path, name string) {
	key := taskKey(path, name)
	if t := f.sched.timers[key]; t != nil {
		t.Stop()
		delete(f.sched.timers, key)
	}
}

// Close stops the scheduler: no task starts any more, and running ones
// are stopped (as when the host shuts down).
func (f *Firewall) Close() {
	f.sched.mu.Lock()
	for k, t := range f.sched.timers {
		t.Stop()
		delete(f.sched.timers, k)
	}
	if f.sched.cancel != nil {
		f.sched.cancel()
	}
	f.sched.mu.Unlock()
	f.sched.running.Wait()
}

// fire runs the task's action, as the Task Scheduler service does when
// the trigger fires.
func (f *Firewall) fire(path, name string) {
	var task Task
	found := false
	f.sched.mu.Lock()
	if f.sched.ctx.Err() != nil {
		f.sched.mu.Unlock()
		return
	}
	f.sched.running.Add(1)
	defer f.sched.running.Done()
	ts, err := f.loadTasks()
	if err == nil {
		for i := range ts {
			if taskKey(ts[i].Path, ts[i].Name) == taskKey(path, name) && !ts[i].Ran {
				ts[i].State, ts[i].Ran, ts[i].LastRunTime = "Running", true, time.Now()
				task, found = ts[i], true
				err = f.saveTasks(ts)
			}
		}
	}
	delete(f.sched.timers, taskKey(path, name))
	f.sched.mu.Unlock()
	if !found || err != nil {
		return
	}
	result := f.runAction(task)
	if f.opts.Logf != nil {
		f.opts.Logf("scheduled task %s%s ran: result 0x%X", path, name, result)
	}
	_ = f.withTasks(func(ts []Task) ([]Task, bool, error) {
		for i := range ts {
			if taskKey(ts[i].Path, ts[i].Name) == taskKey(path, name) {
				ts[i].State, ts[i].LastTaskResult = "Ready", result
				return ts, true, nil
			}
		}
		return ts, false, nil // unregistered while it ran
	})
}

// runAction starts the action's program: only Windows PowerShell is
// simulated, its arguments read as lab/wsman reads a WinRS command's.
func (f *Firewall) runAction(t Task) int64 {
	if !strings.EqualFold(t.Execute, powershellExe) && !strings.EqualFold(t.Execute, `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`) {
		return taskFileNotFound
	}
	script, fromStdin, failure, code := wsman.PowerShellArgs(t.Arguments)
	switch {
	case fromStdin:
		// A task's powershell.exe has no input to read a script from:
		// it would wait for one until ExecutionTimeLimit. The
		// simulation refuses it at once.
		return powershellBadArgs
	case failure != "":
		return int64(uint32(int32(code)))
	}
	limit := t.ExecutionTimeLimit
	if limit <= 0 {
		limit = 72 * time.Hour
	}
	ctx, cancel := context.WithTimeout(f.sched.ctx, limit)
	defer cancel()
	_, _, code = f.run(ctx, script, t.SID == sidSystem)
	if ctx.Err() != nil && f.sched.ctx.Err() == nil {
		return taskTerminated
	}
	return int64(uint32(int32(code)))
}

const taskNS = "Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/"

func taskObject(t Task) *psObject {
	o := newObject(taskNS + "MSFT_ScheduledTask")
	o.set("TaskName", t.Name)
	o.set("TaskPath", t.Path)
	o.set("State", psEnum{"Microsoft.PowerShell.Cmdletization.GeneratedTypes.ScheduledTask.StateEnum", t.State, map[string]int64{"Ready": 3, "Running": 4}[t.State]})
	a := newObject(taskNS + "MSFT_TaskExecAction")
	a.set("Execute", t.Execute)
	a.set("Arguments", t.Arguments)
	o.set("Actions", []any{a})
	return o
}

func taskNotFound(cmdlet, prop, value string) *errorRecord {
	return &errorRecord{message: fmt.Sprintf("No MSFT_ScheduledTask objects found with property '%s' equal to '%s'.  Verify the value of the property and retry.", prop, value),
		category: "ObjectNotFound", reason: "CimJobException", targetName: value, targetType: "String",
		fqid: "CmdletizationQuery_NotFound_" + prop + "," + cmdlet}
}

func mandatory(c *cmdCall, names ...string) error {
	var missing []string
	for _, n := range names {
		if !c.has(n) || c.bound[n] == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return c.fail(&errorRecord{message: "Cannot process command because of one or more missing mandatory parameters: " + strings.Join(missing, " ") + ".",
		category: "InvalidArgument", reason: "ParameterBindingException", fqid: "MissingMandatoryParameter," + c.def.name})
}

// cimObject returns v when it is an object made by the cmdlet that makes
// CIM class class.
func cimObject(v any, class string) (*psObject, bool) {
	o, ok := v.(*psObject)
	return o, ok && o.typeName == taskNS+class
}

func init() {
	register(&cmdletDef{name: "New-ScheduledTaskAction", cdxml: true,
		params: []paramDef{positional(named("Execute", pString), 0), positional(named("Argument", pString), 1), positional(named("WorkingDirectory", pString), 2), named("Id", pString)},
		run: func(c *cmdCall) error {
			if err := mandatory(c, "Execute"); err != nil {
				return err
			}
			o := newObject(taskNS + "MSFT_TaskExecAction")
			o.set("Execute", c.str("Execute"))
			o.set("Arguments", c.str("Argument"))
			o.set("WorkingDirectory", c.str("WorkingDirectory"))
			c.emit(o)
			return nil
		}})
	register(&cmdletDef{name: "New-ScheduledTaskTrigger", cdxml: true,
		params: []paramDef{named("Once", pSwitch), named("At", pAny)},
		run: func(c *cmdCall) error {
			if once, _ := c.bound["Once"].(bool); !once {
				return c.fail(&errorRecord{message: "Parameter set cannot be resolved using the specified named parameters.", category: "InvalidArgument", reason: "ParameterBindingException", fqid: "AmbiguousParameterSet," + c.def.name})
			}
			if err := mandatory(c, "At"); err != nil {
				return err
			}
			at, ok := c.bound["At"].(psDate)
			if !ok {
				return unsupportedAt(c.pos, "-At of %s (the simulation takes a [DateTime])", typeName(c.bound["At"]))
			}
			o := newObject(taskNS + "MSFT_TaskTimeTrigger")
			o.set("StartBoundary", at.t.Format("2006-01-02T15:04:05"))
			o.set("Enabled", true)
			o.props["\x00at"] = at.t
			c.emit(o)
			return nil
		}})
	register(&cmdletDef{name: "New-ScheduledTaskPrincipal", cdxml: true,
		params: []paramDef{
			positional(named("UserId", pString), 0), named("GroupId", pString),
			enumParam("LogonType", "Microsoft.PowerShell.Cmdletization.GeneratedTypes.ScheduledTask.LogonTypeEnum", pEnum, "None", "Password", "S4U", "Interactive", "Group", "ServiceAccount", "InteractiveOrPassword"),
			enumParam("RunLevel", "Microsoft.PowerShell.Cmdletization.GeneratedTypes.ScheduledTask.RunLevelEnum", pEnum, "Limited", "Highest"),
			named("Id", pString),
		},
		run: func(c *cmdCall) error {
			if c.has("UserId") == c.has("GroupId") {
				return c.fail(&errorRecord{message: "Parameter set cannot be resolved using the specified named parameters.", category: "InvalidArgument", reason: "ParameterBindingException", fqid: "AmbiguousParameterSet," + c.def.name})
			}
			if c.has("GroupId") {
				return unsupportedAt(c.pos, "New-ScheduledTaskPrincipal -GroupId")
			}
			o := newObject(taskNS + "MSFT_TaskPrincipal2")
			o.set("UserId", c.str("UserId"))
			lt := c.str("LogonType")
			if lt == "" {
				lt = "None"
			}
			rl := c.str("RunLevel")
			if rl == "" {
				rl = "Limited"
			}
			o.set("LogonType", lt)
			o.set("RunLevel", rl)
			c.emit(o)
			return nil
		}})
	register(&cmdletDef{name: "New-ScheduledTaskSettingsSet", cdxml: true,
		params: []paramDef{named("AllowStartIfOnBatteries", pSwitch), named("DontStopIfGoingOnBatteries", pSwitch), named("StartWhenAvailable", pSwitch), named("Hidden", pSwitch), named("ExecutionTimeLimit", pAny)},
		run: func(c *cmdCall) error {
			o := newObject(taskNS + "MSFT_TaskSettings3")
			swa, _ := c.bound["StartWhenAvailable"].(bool)
			o.set("StartWhenAvailable", swa)
			limit := 72 * time.Hour
			if c.has("ExecutionTimeLimit") {
				ts, ok := c.bound["ExecutionTimeLimit"].(psTimeSpan)
				if !ok {
					return unsupportedAt(c.pos, "-ExecutionTimeLimit of %s (the simulation takes a [TimeSpan])", typeName(c.bound["ExecutionTimeLimit"]))
				}
				limit = ts.d
			}
			o.set("ExecutionTimeLimit", fmt.Sprintf("PT%dS", int64(limit/time.Second)))
			o.props["\x00limit"] = limit
			c.emit(o)
			return nil
		}})
	register(&cmdletDef{name: "Register-ScheduledTask", cdxml: true,
		params: []paramDef{
			positional(named("TaskName", pString), 0), positional(named("TaskPath", pString), 1),
			positional(named("Action", pAny), 2), positional(named("Trigger", pAny), 3), positional(named("Settings", pAny), 4),
			positional(named("Principal", pAny), 5), named("Description", pString), named("Force", pSwitch),
		},
		run: registerTask})
	register(&cmdletDef{name: "Unregister-ScheduledTask", cdxml: true,
		params: []paramDef{positional(named("TaskName", pStrings), 0), positional(named("TaskPath", pStrings), 1)},
		run:    unregisterTask})
	register(&cmdletDef{name: "Get-ScheduledTask", cdxml: true,
		params: []paramDef{positional(named("TaskName", pStrings), 0), named("TaskPath", pStrings)},
		run: func(c *cmdCall) error {
			var found []Task
			err := c.in.fw.withTasks(func(ts []Task) ([]Task, bool, error) {
				for _, t := range ts {
					if matchTask(c, t) {
						found = append(found, t)
					}
				}
				return ts, false, nil
			})
			if err != nil {
				return c.fail(&errorRecord{message: err.Error(), category: "ReadError", reason: "IOException"})
			}
			for _, t := range found {
				c.emit(taskObject(t))
			}
			if len(found) == 0 {
				prop, vals := "TaskName", c.strs("TaskName")
				if !c.has("TaskName") {
					prop, vals = "TaskPath", c.strs("TaskPath")
				}
				for _, v := range vals {
					if !hasWildcard(v) {
						if err := c.writeError(taskNotFound(c.def.name, prop, v)); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}})
}

// matchTask: -TaskName and -TaskPath take wildcards.
func matchTask(c *cmdCall, t Task) bool {
	match := func(param, v string) bool {
		if !c.has(param) {
			return true
		}
		return slices.ContainsFunc(c.strs(param), func(p string) bool { return wildcardMatch(p, v) })
	}
	return match("TaskName", t.Name) && match("TaskPath", t.Path)
}

func registerTask(c *cmdCall) error {
	if err := mandatory(c, "TaskName", "Action"); err != nil {
		return err
	}
	taskErr := func(msg, fqid string) error {
		return c.writeError(&errorRecord{message: msg, category: "InvalidArgument", reason: "CimException", targetName: c.str("TaskName"), fqid: fqid + "," + c.def.name})
	}
	t := Task{Name: c.str("TaskName"), Path: `\`, State: "Ready", LastTaskResult: taskHasNotRun, UserID: "Administrator", SID: sidAdministrator, LogonType: "Interactive", RunLevel: "Limited", ExecutionTimeLimit: 72 * time.Hour}
	c.strInto("TaskPath", &t.Path)
	if !strings.HasPrefix(t.Path, `\`) || !strings.HasSuffix(t.Path, `\`) || strings.Contains(t.Path, `\\`) || strings.ContainsAny(t.Path+t.Name, `/:*?"<>|`) || strings.Contains(t.Name, `\`) || t.Name == "" {
		return taskErr("The specified path is invalid.", "HRESULT 0x800700a1")
	}
	actions := unroll(c.bound["Action"])
	if len(actions) != 1 {
		return unsupportedAt(c.pos, "Register-ScheduledTask with %d actions", len(actions))
	}
	a, ok := cimObject(actions[0], "MSFT_TaskExecAction")
	if !ok {
		return c.fail(&errorRecord{message: "Cannot process argument transformation on parameter 'Action'. Cannot convert the value to type \"Microsoft.Management.Infrastructure.CimInstance[]\".", category: "InvalidData", reason: "ParameterBindingArgumentTransformationException", fqid: "ParameterArgumentTransformationError," + c.def.name})
	}
	t.Execute, t.Arguments = toString(a.props["execute"]), toString(a.props["arguments"])
	if c.has("Trigger") {
		triggers := unroll(c.bound["Trigger"])
		if len(triggers) != 1 {
			return unsupportedAt(c.pos, "Register-ScheduledTask with %d triggers", len(triggers))
		}
		tr, ok := cimObject(triggers[0], "MSFT_TaskTimeTrigger")
		if !ok {
			return unsupportedAt(c.pos, "-Trigger of %s", typeName(triggers[0]))
		}
		t.At = tr.props["\x00at"].(time.Time)
	} else {
		return unsupportedAt(c.pos, "Register-ScheduledTask without a trigger (the task would never run)")
	}
	if c.has("Principal") {
		p, ok := cimObject(c.bound["Principal"], "MSFT_TaskPrincipal2")
		if !ok {
			return unsupportedAt(c.pos, "-Principal of %s", typeName(c.bound["Principal"]))
		}
		t.UserID, t.LogonType, t.RunLevel = toString(p.props["userid"]), toString(p.props["logontype"]), toString(p.props["runlevel"])
		t.SID = c.in.fw.lookupAccount(t.UserID)
		service := slices.Contains([]string{sidSystem, sidLocalService, sidNetworkService}, t.SID)
		switch {
		case t.SID == "":
			return taskErr("No mapping between account names and security IDs was done.", "HRESULT 0x80070534")
		case service != (t.LogonType == "ServiceAccount"):
			return taskErr("The task XML contains a value which is incorrectly formatted or out of range.", "HRESULT 0x80041318")
		}
	}
	if c.has("Settings") {
		s, ok := cimObject(c.bound["Settings"], "MSFT_TaskSettings3")
		if !ok {
			return unsupportedAt(c.pos, "-Settings of %s", typeName(c.bound["Settings"]))
		}
		t.StartWhenAvailable = toBool(s.props["startwhenavailable"])
		t.ExecutionTimeLimit = s.props["\x00limit"].(time.Duration)
	}
	force, _ := c.bound["Force"].(bool)
	exists := false
	err := c.in.fw.withTasks(func(ts []Task) ([]Task, bool, error) {
		for i := range ts {
			if taskKey(ts[i].Path, ts[i].Name) != taskKey(t.Path, t.Name) {
				continue
			}
			if !force {
				exists = true
				return ts, false, nil
			}
			c.in.fw.disarmLocked(ts[i].Path, ts[i].Name)
			ts = slices.Delete(ts, i, i+1)
			break
		}
		ts = append(ts, t)
		// A one-time trigger already in the past never fires, unless the
		// task may start late.
		if time.Until(t.At) > 0 || t.StartWhenAvailable {
			c.in.fw.armLocked(t)
		}
		return ts, true, nil
	})
	if err != nil {
		return c.fail(&errorRecord{message: err.Error(), category: "WriteError", reason: "IOException"})
	}
	if exists {
		return c.writeError(&errorRecord{message: "Cannot create a file when that file already exists.", category: "ResourceExists", reason: "CimException", targetName: t.Name, fqid: "HRESULT 0x800700b7," + c.def.name})
	}
	c.emit(taskObject(t))
	return nil
}

func unregisterTask(c *cmdCall) error {
	if err := mandatory(c, "TaskName"); err != nil {
		return err
	}
	// The cmdlet asks for confirmation unless -Confirm:$false, and
	// powershell.exe -NonInteractive cannot ask.
	if confirm, set := c.bound["Confirm"].(bool); !set || confirm {
		return &throwErr{rec: &errorRecord{message: "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
			category: "InvalidOperation", reason: "PSInvalidOperationException", activity: c.def.name, fqid: "InvalidOperation," + c.def.name, pos: c.pos}}
	}
	var removed int
	err := c.in.fw.withTasks(func(ts []Task) ([]Task, bool, error) {
		n := len(ts)
		ts = slices.DeleteFunc(ts, func(t Task) bool {
			if matchTask(c, t) {
				c.in.fw.disarmLocked(t.Path, t.Name)
				return true
			}
			return false
		})
		removed = n - len(ts)
		return ts, removed > 0, nil
	})
	if err != nil {
		return c.fail(&errorRecord{message: err.Error(), category: "WriteError", reason: "IOException"})
	}
	if removed == 0 {
		for _, v := range c.strs("TaskName") {
			if err := c.writeError(taskNotFound(c.def.name, "TaskName", v)); err != nil {
				return err
			}
		}
	}
	return nil
}
