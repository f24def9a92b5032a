package portal

import (
	"context"
	"log/slog"
	"time"
)

// WatchReload keeps a node's in-memory copy of shared data (the division
// tree, the working-day calendar) current with what other nodes change:
// every interval until ctx ends it asks stale (one cheap query: the newest
// change's id) and, when another node changed the data, reloads it.
func WatchReload(ctx context.Context, every time.Duration, logger *slog.Logger, what string,
	stale func(context.Context) (bool, error), reload func(context.Context) error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		changed, err := stale(qctx)
		if err == nil && changed {
			if err = reload(qctx); err == nil {
				logger.Info(what + " reloaded: another node changed it")
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Warn(what+": cannot check for changes", "err", err)
		}
	}
}
