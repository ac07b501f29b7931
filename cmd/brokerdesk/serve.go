package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/jobs"
)

func runServe(ctx context.Context) error {
	return withApp(ctx, func(a *app) error {
		s, err := a.buildHTTP()
		if err != nil {
			return err
		}
		go a.resolver.Listen(ctx)
		go a.payments.Listen(ctx, clusterPools(a.clusters)) // live dashboards hear credited deposits from every cluster
		go a.partners.Listen(ctx, clusterPools(a.clusters)) // the IB portal hears its partner's new commission rows
		return a.serveHTTP(ctx, s)
	})
}

// clusterPools is every database cluster's pool: a tenant's deposits notify on the cluster that holds it.
func clusterPools(c *database.Clusters) []*pgxpool.Pool {
	var out []*pgxpool.Pool
	for _, name := range c.Names() {
		if p, err := c.Pool(name); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func runWorker(ctx context.Context) error {
	return withApp(ctx, func(a *app) error {
		w, err := a.startWorker(ctx)
		if err != nil {
			return err
		}
		<-ctx.Done()
		w.Shutdown()
		return nil
	})
}

// worker is the job server with the outbox relay and the scheduler that feed it.
type worker struct {
	srv  *asynq.Server
	stop context.CancelFunc
	done chan struct{} // closed when the relay and the scheduler have returned
}

// Shutdown stops the relay and the scheduler first (the batches they have in flight finish and are marked), then
// the job server, which waits up to BD_SHUTDOWN_TIMEOUT; unfinished tasks go back to Redis.
func (w *worker) Shutdown() {
	w.stop()
	<-w.done
	w.srv.Shutdown()
}

// tasks returns every task handler and every periodic entry: the platform's and every module's (registerTasks).
func (a *app) tasks() (*asynq.ServeMux, []jobs.Entry, error) {
	t := jobs.NewTasks(a.registry)
	a.registerTasks(t)
	return t.Mux(), t.Entries(), t.Err()
}

// startWorker checks Redis is safe for a queue (noeviction) and starts the job server with every module's
// handlers, the outbox relay and the scheduler. They stop when ctx ends or on Shutdown.
func (a *app) startWorker(ctx context.Context) (*worker, error) {
	if err := jobs.CheckRedis(ctx, a.cfg.RedisURL); err != nil {
		return nil, err
	}
	mux, entries, err := a.tasks()
	if err != nil {
		return nil, err
	}
	sched, err := jobs.NewScheduler(a.queue, a.registry, a.log, entries...)
	if err != nil {
		return nil, err
	}
	relay := jobs.NewRelay(a.registry, a.gate, a.clusters, a.queue, jobs.RelayOptions{Log: a.log, Spread: a.events.Spread})
	srv := jobs.NewServer(a.redis, a.cfg.WorkerConcurrency, a.cfg.ShutdownTimeout, a.log)
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	lctx, stop := context.WithCancel(ctx)
	w := &worker{srv: srv, stop: stop, done: make(chan struct{})}
	var loops sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		if err := relay.Run(lctx); err != nil {
			a.log.Error("outbox relay stopped", "err", err)
		}
	}()
	go func() {
		defer loops.Done()
		if err := sched.Run(lctx); err != nil {
			a.log.Error("scheduler stopped", "err", err)
		}
	}()
	go func() { loops.Wait(); close(w.done) }()
	a.log.Info("worker started", "concurrency", a.cfg.WorkerConcurrency)
	return w, nil
}
