package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/hibiken/asynqmon"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/operators"
)

// jobsRoot is where asynqmon is mounted on the console host.
const jobsRoot = "/jobs"

// issuer is the iss of every access token this deployment signs: https://<base domain>.
func (a *app) issuer() string { return "https://" + a.cfg.BaseDomain }

// newOperators builds the operator service: the console's sign-in and the `operators` command.
func newOperators(a *app) (*operators.Service, error) {
	return operators.NewService(a.clusters.Platform(), operators.Options{Keys: a.cfg.JWTKeys, Hasher: a.hasher, Sealer: a.cfg.DataKeys,
		Audit: audit.NewPlatform(a.clusters.Platform()), Issuer: a.issuer(), Log: a.log})
}

// mountConsole puts the operator console on its app: the console API (its own route table, Bearer console
// tokens), the pages (cookie sessions with CSRF) and asynqmon under /jobs behind operator sign-in.
func (a *app) mountConsole(console *fiber.App, pages *web.Pages) (*web.API, error) {
	ops, err := newOperators(a)
	if err != nil {
		return nil, err
	}
	ten := operators.NewTenants(ops, a.registry, a.provisioner)
	console.Use(operators.SecurityHeaders(jobsRoot + "/static/"))
	console.Use(audit.OriginMiddleware()) // platform audit rows (sign-ins, tenant changes) carry the request's IP, agent, id
	api := web.NewAPI(console, ops.Authorize)
	web.ServeOpenAPI(api, "BrokerDesk operator console API", version)
	operators.Routes(api, ops, ten)
	if err := api.Err(); err != nil {
		return nil, err
	}
	ps := operators.NewPageSession(ops, ten, pages, operators.CookieOptions{Secure: a.cfg.PublicScheme == "https"})
	ps.Mount(console)

	// asynqmon is a net/http app (a single-page UI and its JSON API) that builds its links from RootPath, so it
	// sees the full path. Registered on /jobs and /jobs/* (not Use("/jobs"), which would also match /jobsfoo).
	mon := adaptor.HTTPHandler(asynqmon.New(asynqmon.Options{RootPath: jobsRoot, RedisConnOpt: a.redis}))
	guard := []fiber.Handler{ps.RequirePage(operators.PermJobs), operators.SameOriginWrites(), mon}
	console.All(jobsRoot, guard...)
	console.All(jobsRoot+"/*", guard...)
	return api, nil
}

// demoOperatorEmail is the operator `brokerdesk dev` creates, with the demo staff's password.
const demoOperatorEmail = "operator@demo.localhost"

// ensureDemoOperator gives the dev deployment an operator to sign in to the console with.
func (a *app) ensureDemoOperator(ctx context.Context) error {
	ops, err := newOperators(a)
	if err != nil {
		return err
	}
	if _, err := ops.Create(ctx, demoOperatorEmail, "Demo Operator", identity.DemoPassword); err != nil && !errors.Is(err, operators.ErrEmailTaken) {
		return fmt.Errorf("demo operator: %w", err)
	}
	return nil
}
