package web

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// NavGroup is a heading of the back office's side menu. Modules file their entries under one; the menu shows the
// groups in this order, each only when the signed-in user may open at least one of its entries.
type NavGroup string

const (
	GroupHome       NavGroup = "Home"
	GroupClients    NavGroup = "Clients"
	GroupCompliance NavGroup = "Compliance"
	GroupMoney      NavGroup = "Money"
	GroupTrading    NavGroup = "Trading"
	GroupPartners   NavGroup = "Partners"
	GroupCRM        NavGroup = "CRM"
	GroupSettings   NavGroup = "Settings"
	// GroupPortal files an entry in the client portal's menu instead (shown to every signed-in trader).
	GroupPortal NavGroup = "Portal"
	// GroupAccount files a back-office entry among the signed-in user's own links in the header, beside their
	// name (their own sign-in settings), instead of the side menu.
	GroupAccount NavGroup = "Account"
)

// NavGroups is the back office's side menu order.
var NavGroups = []NavGroup{GroupHome, GroupClients, GroupCompliance, GroupMoney, GroupTrading, GroupPartners, GroupCRM, GroupSettings}

// NavEntry is one link of a signed-in area's menu: shown to users holding Permission, under Group, ordered by Order
// then Label within it.
type NavEntry struct {
	Group      NavGroup
	Label      string
	Href       string
	Permission Permission
	Order      int
}

// Tile is one count on the back-office home page (the role dashboard): shown to users holding Permission, it reads
// its number for the signed-in user (Count gets the request: the tenant and the viewer) and links to the list it
// counts (Href, with the list's filter), so a number always opens the rows behind it.
type Tile struct {
	Group      NavGroup
	Label      string
	Href       string
	Permission Permission
	Order      int
	Count      func(c *fiber.Ctx) (TileCount, error)
}

// TileCount is a tile's number now, with an optional line under it ("3 overdue") and whether it needs attention.
type TileCount struct {
	Value  int
	Detail string
	Alert  bool
	// DetailHref links the detail line to the rows it speaks of ("3 overdue": the overdue filter); empty: no link.
	DetailHref string
	// Href, when set, replaces the tile's Href for this request: a filter computed now (a date) that the count used.
	Href string
}

// sideMenu reports whether g is a heading of the back office's side menu.
func (g NavGroup) sideMenu() bool { return slices.Contains(NavGroups, g) }

func (e NavEntry) check() error {
	if e.Label == "" || e.Href == "" || e.Permission == "" || !(e.Group.sideMenu() || e.Group == GroupPortal || e.Group == GroupAccount) {
		return fmt.Errorf("menu entry %q (%s) declares no label, link, permission or known group (%q)", e.Label, e.Href, e.Group)
	}
	return nil
}

func (t Tile) check() error {
	if t.Label == "" || t.Href == "" || t.Permission == "" || t.Count == nil || !t.Group.sideMenu() {
		return fmt.Errorf("dashboard tile %q (%s) declares no label, link, permission, count or menu group (%q)", t.Label, t.Href, t.Group)
	}
	return nil
}

// compareEntries orders menu entries and tiles within a group: by Order, then Label.
func compareEntries(ao int, al string, bo int, bl string) int {
	return cmp.Or(cmp.Compare(ao, bo), cmp.Compare(al, bl))
}

// NavSection is one heading of the back office's side menu with the entries under it the user may open.
type NavSection struct {
	Group NavGroup
	Links []NavLink
}

// DashboardGroup is one heading of the home page's tiles.
type DashboardGroup struct {
	Group NavGroup
	Tiles []DashboardTile
}

// DashboardTile is a tile as the home page draws it: its count now, or Failed when it could not be read.
type DashboardTile struct {
	Label, Href string
	TileCount
	Failed bool
}

// menu is the navigation of v's area for a page at path: for staff the side menu (groups in NavGroups order, each
// only with a visible entry) and their header links, for a trader the portal's links. The entry whose link is the
// longest prefix of path is the current one, so a client's page marks "Clients".
func (s *Shell) menu(v Viewer, path string) Nav {
	var entries []NavEntry
	for _, e := range s.nav {
		if (e.Group == GroupPortal) == v.Portal && v.Can(e.Permission) {
			entries = append(entries, e)
		}
	}
	slices.SortStableFunc(entries, func(a, b NavEntry) int { return compareEntries(a.Order, a.Label, b.Order, b.Label) })
	current := currentHref(entries, path)
	link := func(e NavEntry) NavLink { return NavLink{Label: e.Label, Href: e.Href, Current: e.Href == current} }
	var n Nav
	if v.Portal {
		for _, e := range entries {
			n.Links = append(n.Links, link(e))
		}
		return n
	}
	for _, e := range entries {
		if e.Group == GroupAccount {
			n.Account = append(n.Account, link(e))
		}
	}
	for _, g := range NavGroups {
		sec := NavSection{Group: g}
		for _, e := range entries {
			if e.Group == g {
				sec.Links = append(sec.Links, link(e))
			}
		}
		if len(sec.Links) > 0 {
			n.Groups = append(n.Groups, sec)
		}
	}
	return n
}

// currentHref is the href of the entry whose path is the longest prefix of path at a segment boundary ("" if none).
func currentHref(entries []NavEntry, path string) string {
	best, bestLen := "", -1
	for _, e := range entries {
		p := e.Href
		if u, err := url.Parse(e.Href); err == nil {
			p = u.Path
		}
		p = strings.TrimSuffix(p, "/")
		if (path == p || strings.HasPrefix(path, p+"/")) && len(p) > bestLen {
			best, bestLen = e.Href, len(p)
		}
	}
	return best
}
