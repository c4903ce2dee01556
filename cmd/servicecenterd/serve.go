package main

import (
	"context"
	"io"

	"github.com/servicecenterd/servicecenterd/internal/server"
)

// runServe is `servicecenterd serve [flags]` (also plain `servicecenterd`):
// the settings (flags > SERVICECENTERD_* env > YAML file > defaults),
// logged with secrets redacted, then the server until ctx ends.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return server.RunCommand(ctx, args, stdout, stderr)
}
