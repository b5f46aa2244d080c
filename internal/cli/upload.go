package cli

import (
	"context"
	"errors"
)

func runUpload(ctx context.Context, args []string, env *environment) error {
	return errors.New("upload: not implemented yet")
}
