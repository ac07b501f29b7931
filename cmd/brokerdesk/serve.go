package main

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/jobs"
)

func runServe(ctx context.Context) error {
	return withApp(ctx, func(a *app) error {
		s, err := a.buildHTTP()
		if err != nil {
			return err
		}
		go a.resolver.Listen(ctx)
		return a.serveHTTP(ctx, s)
	})
}

func runWorker(ctx context.Context) error {
	return withApp(ctx, func(a *app) error {
		srv, err := a.startWorker(ctx)
		if err != nil {
			return err
		}
		<-ctx.Done()
		srv.Shutdown() // waits up to BD_SHUTDOWN_TIMEOUT; unfinished tasks go back to Redis
		return nil
	})
}

// startWorker checks Redis is safe for a queue and starts the job server with every module's handlers.
func (a *app) startWorker(ctx context.Context) (*asynq.Server, error) {
	if err := jobs.CheckRedis(ctx, a.cfg.RedisURL); err != nil {
		return nil, err
	}
	mux := asynq.NewServeMux()
	jobs.Provisioning{Provisioner: a.provisioner}.Register(mux)
	srv := jobs.NewServer(a.redis, a.cfg.WorkerConcurrency, a.cfg.ShutdownTimeout, a.log)
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	a.log.Info("worker started", "concurrency", a.cfg.WorkerConcurrency)
	return srv, nil
}
