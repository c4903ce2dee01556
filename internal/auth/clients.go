package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/filewatch"
)

// ClientsFile is a clients file that was loaded and can be watched for
// changes (Watch).
type ClientsFile struct {
	path    string
	known   map[string][]string
	watcher *filewatch.Watcher
}

// LoadClientsFile loads the clients file at path. It remembers the file as
// it was just before loading it, so that Watch sees a change made between
// the load and its first look. known are the methods a reloaded file's
// allow lists may name (CheckKnown); Settings.Validate checks the first
// load against them.
func LoadClientsFile(path string, known map[string][]string) (*ClientsFile, *Policy, error) {
	w, err := filewatch.New(path)
	if err != nil {
		return nil, nil, err
	}
	p, err := LoadPolicy(path)
	if err != nil {
		return nil, nil, err
	}
	return &ClientsFile{path: path, known: known, watcher: w}, p, nil
}

// Watch looks at the file every interval until ctx ends and gives a the
// new policy after each change. A file that no longer parses, or whose
// allow lists name unknown methods, is logged and the previous policy
// stays in force.
func (f *ClientsFile) Watch(ctx context.Context, interval time.Duration, a *Authenticator, logger *slog.Logger) {
	filewatch.Poll(ctx, f.watcher, interval, func() {
		p, err := LoadPolicy(f.path)
		if err == nil {
			err = CheckKnown(p.Patterns(), f.known)
		}
		if err != nil {
			logger.Error("clients file changed but is invalid; keeping the previous one", slog.String("error", err.Error()))
			return
		}
		a.SetPolicy(p)
		logger.Info("clients file reloaded", slog.String("file", f.path), slog.Int("clients", len(p.Clients())))
	}, func(err error) {
		logger.Error("clients file", slog.String("error", err.Error()))
	})
}
