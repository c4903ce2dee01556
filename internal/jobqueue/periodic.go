package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// MaintenanceQueue is the River queue of the periodic jobs: one worker
// per replica, so maintenance never competes with the bulk sync's workers.
const MaintenanceQueue = "maintenance"

// Periodic runs fn every interval, the first time when the client starts:
// one River periodic job, which River's leader (one replica of those
// sharing a database) inserts, and any replica works, so each run happens
// once per interval per database. name identifies the task in logs and in
// River's job table ("periodic" jobs with args {"name": name}); it must be
// unique. A run that fails is logged and tried again at the next
// interval, not retried (a prune that failed is a prune the next one
// does). Register before Run.
func (q *Queue[TTx]) Periodic(name string, every time.Duration, fn func(ctx context.Context) error) error {
	if name == "" || every <= 0 || fn == nil {
		return errors.New("jobqueue: a periodic task needs a name, a positive interval and a function")
	}
	if err := q.tasks.add(name, fn); err != nil {
		return err
	}
	q.client.PeriodicJobs().Add(river.NewPeriodicJob(
		river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return periodicArgs{Name: name}, nil },
		&river.PeriodicJobOpts{ID: name, RunOnStart: true},
	))
	return nil
}

// periodicTasks are the functions of the periodic jobs, by name.
type periodicTasks struct {
	mu  sync.Mutex
	fns map[string]func(context.Context) error
}

func (t *periodicTasks) add(name string, fn func(context.Context) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.fns[name]; dup {
		return fmt.Errorf("jobqueue: periodic task %q registered twice", name)
	}
	t.fns[name] = fn
	return nil
}

func (t *periodicTasks) get(name string) func(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fns[name]
}

// periodicArgs is a run of the periodic task Name.
type periodicArgs struct {
	// Name is the task's name (Periodic).
	Name string `json:"name"`
}

// Kind is River's job kind of periodic tasks.
func (periodicArgs) Kind() string { return "periodic" }

// InsertOpts puts periodic tasks on MaintenanceQueue, tried once.
func (periodicArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: MaintenanceQueue, MaxAttempts: 1}
}

// periodicWorker runs the periodic tasks.
type periodicWorker struct {
	river.WorkerDefaults[periodicArgs]
	tasks  *periodicTasks
	logger *slog.Logger
}

// Work runs the task; a task this replica does not know (a newer replica
// registered it) is left to one that does.
func (w *periodicWorker) Work(ctx context.Context, job *river.Job[periodicArgs]) error {
	fn := w.tasks.get(job.Args.Name)
	if fn == nil {
		return river.JobCancel(fmt.Errorf("periodic task %q is unknown to this replica", job.Args.Name))
	}
	if err := fn(ctx); err != nil {
		w.logger.ErrorContext(ctx, "periodic task failed; it runs again at its next interval",
			slog.String("task", job.Args.Name), slog.String("error", err.Error()))
		return err
	}
	return nil
}
