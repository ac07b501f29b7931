// Package database opens the Postgres pools BrokerDesk runs on: one pool per database cluster. Every pool starts
// its connections with an EMPTY search_path, so a query that forgot its schema fails loudly instead of reading
// whatever `public` holds; platform SQL names its schema, and tenant SQL runs only inside a tenant scope (see
// package tenants) that sets search_path and role for one transaction.
package database

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PlatformCluster is the name of the cluster that holds the platform schema (BD_DATABASE_URL).
const PlatformCluster = "main"

// Cluster is one named database cluster.
type Cluster struct {
	Name string
	URL  string
}

// ParseClusters reads BD_DATABASE_CLUSTERS: "name=url;name=url". Names are lowercase letters, digits and '-'.
func ParseClusters(s string) ([]Cluster, error) {
	var out []Cluster
	seen := map[string]bool{PlatformCluster: true}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, url, ok := strings.Cut(part, "=")
		if !ok || url == "" {
			return nil, fmt.Errorf("cluster %q: want name=postgres://...", part)
		}
		if !validClusterName(name) {
			return nil, fmt.Errorf("cluster name %q: use 1-30 lowercase letters, digits or '-'", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("cluster name %q used twice (%q is the platform cluster)", name, PlatformCluster)
		}
		seen[name] = true
		out = append(out, Cluster{Name: name, URL: url})
	}
	return out, nil
}

func validClusterName(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// PoolOptions tune every pool.
type PoolOptions struct {
	MaxConns int32 // per cluster; 0 means pgx's default
	// MaxConnLifetime bounds how long one backend lives: with thousands of tenant schemas each backend's catalog
	// cache grows with every schema it touches, so backends are recycled.
	MaxConnLifetime time.Duration
	// DialFunc replaces the dialer (a proxy, or a benchmark counting round trips); nil: the default.
	DialFunc pgconn.DialFunc
}

// Clusters is one pool per database cluster.
type Clusters struct {
	pools map[string]*pgxpool.Pool
}

// Open connects to the platform cluster and every further cluster, and pings each.
func Open(ctx context.Context, platformURL string, extra []Cluster, o PoolOptions) (*Clusters, error) {
	all := append([]Cluster{{Name: PlatformCluster, URL: platformURL}}, extra...)
	c := &Clusters{pools: make(map[string]*pgxpool.Pool, len(all))}
	for _, cl := range all {
		p, err := OpenPool(ctx, cl.URL, o)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("database cluster %q: %w", cl.Name, err)
		}
		c.pools[cl.Name] = p
	}
	return c, nil
}

// OpenPool opens one fail-closed pool (empty search_path) and pings it.
func OpenPool(ctx context.Context, url string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	cfg.ConnConfig.RuntimeParams["application_name"] = "brokerdesk"
	if o.DialFunc != nil {
		cfg.ConnConfig.DialFunc = o.DialFunc
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerTypes(c.TypeMap())
		return nil
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = o.MaxConnLifetime
	} else {
		cfg.MaxConnLifetime = 30 * time.Minute
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Ping(pctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("ping: %w", err)
	}
	return p, nil
}

// ErrUnknownCluster is returned for a cluster name that is not configured.
var ErrUnknownCluster = errors.New("unknown database cluster")

// Pool returns the named cluster's pool.
func (c *Clusters) Pool(name string) (*pgxpool.Pool, error) {
	p, ok := c.pools[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (configured: %s)", ErrUnknownCluster, name, strings.Join(c.Names(), ", "))
	}
	return p, nil
}

// Platform returns the pool of the cluster holding the platform schema.
func (c *Clusters) Platform() *pgxpool.Pool { return c.pools[PlatformCluster] }

// Names lists the configured clusters, platform cluster first.
func (c *Clusters) Names() []string {
	names := make([]string, 0, len(c.pools))
	for n := range c.pools {
		if n != PlatformCluster {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{PlatformCluster}, names...)
}

// Ping checks every cluster answers.
func (c *Clusters) Ping(ctx context.Context) error {
	for _, n := range c.Names() {
		if err := c.pools[n].Ping(ctx); err != nil {
			return fmt.Errorf("database cluster %q: %w", n, err)
		}
	}
	return nil
}

// Close closes every pool.
func (c *Clusters) Close() {
	for _, p := range c.pools {
		p.Close()
	}
}
