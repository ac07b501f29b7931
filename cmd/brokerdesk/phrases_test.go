package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// auditedAction is an action the source passes to the audit trail, and where.
type auditedAction struct {
	action, at string
}

var actionShape = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// auditedActions reads the Go source (tests aside) under each dir and returns every audit action it finds: each
// string constant named Action... shaped like an action ("document.approved"), and each Action of an audit.Entry
// literal, whether a string literal or a constant (of the file's package, or pkg.Name of another scanned one).
func auditedActions(t *testing.T, dirs []string) []auditedAction {
	t.Helper()
	fset := token.NewFileSet()
	type file struct {
		pkg string
		f   *ast.File
	}
	var files []file
	consts := map[string]map[string]string{} // package name -> constant -> string value
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			files = append(files, file{f.Name.Name, f})
			if consts[f.Name.Name] == nil {
				consts[f.Name.Name] = map[string]string{}
			}
			for _, decl := range f.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								v, _ := strconv.Unquote(lit.Value)
								consts[f.Name.Name][name.Name] = v
							}
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	var out []auditedAction
	add := func(action string, pos token.Pos) {
		if actionShape.MatchString(action) && !seen[action] {
			seen[action] = true
			out = append(out, auditedAction{action, fset.Position(pos).String()})
		}
	}
	for _, fl := range files {
		for name, v := range consts[fl.pkg] {
			if strings.HasPrefix(name, "Action") {
				if obj := fl.f.Scope.Lookup(name); obj != nil {
					add(v, obj.Pos())
				}
			}
		}
		ast.Inspect(fl.f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			switch typ := lit.Type.(type) {
			case *ast.SelectorExpr: // audit.Entry
				if typ.Sel.Name != "Entry" {
					return true
				}
			case *ast.Ident: // Entry, inside the audit package
				if typ.Name != "Entry" {
					return true
				}
			default:
				return true
			}
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if key, isIdent := kv.Key.(*ast.Ident); !ok || !isIdent || key.Name != "Action" {
					continue
				}
				switch v := kv.Value.(type) {
				case *ast.BasicLit:
					s, _ := strconv.Unquote(v.Value)
					add(s, v.Pos())
				case *ast.Ident:
					add(consts[fl.pkg][v.Name], v.Pos())
				case *ast.SelectorExpr:
					if pkg, ok := v.X.(*ast.Ident); ok {
						add(consts[pkg.Name][v.Sel.Name], v.Pos())
					}
				}
			}
			return true
		})
	}
	slices.SortFunc(out, func(a, b auditedAction) int { return strings.Compare(a.action, b.action) })
	return out
}

// Every action a wired module records in a brokerage's audit trail reads as a sentence: the modules' doors declare
// their phrases (frontdoor.Door.Trail), and this test finds the actions in the source, so an action added without
// its sentence fails here, naming where it is recorded.
func TestEveryAuditedActionHasASentence(t *testing.T) {
	t.Parallel()
	a, _, _ := startServer(t)
	if err := a.audit.PhrasesErr(); err != nil {
		t.Fatalf("the modules' declarations: %v", err)
	}
	var dirs []string
	for _, d := range a.doors {
		dirs = append(dirs, filepath.Join("..", "..", "modules", d.Name))
	}
	found := auditedActions(t, dirs)
	names := map[string]bool{}
	for _, f := range found {
		names[f.action] = true
	}
	// The scan finds constants, literals and constants of other packages; if it found none of these it is broken.
	for _, known := range []string{"client.status_changed", "document.approved", "kyc.approved", "identity.login_succeeded", "settings.changed",
		"staff.invited", "client.erased"} {
		if !names[known] {
			t.Errorf("the scan of %v missed %s", dirs, known)
		}
	}
	for _, f := range found {
		if _, ok := a.audit.PhraseFor(f.action); !ok {
			t.Errorf("%s (recorded at %s) has no sentence: declare an audit.Phrase for it in its module's Door.Trail", f.action, f.at)
		}
	}
	t.Logf("%d audited actions found in %d modules", len(found), len(dirs))
}

// The scanner itself, on a source tree it is given: constants, literals, and the actions of other packages.
func TestTheActionScannerFindsConstantsLiteralsAndQualifiedConstants(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := writeFile(filepath.Join(dir, name), src); err != nil {
			t.Fatal(err)
		}
	}
	write("a/a.go", `package a
const ActionDone = "thing.done"
const ActionNotAnAction = "deposit"
const other = "thing.other"
type Entry struct{ Action string }
var _ = Entry{Action: other}
var _ = Entry{Action: "thing.literal"}
`)
	write("b/b.go", `package b
import "a"
var _ = a.Entry{Action: a.ActionDone}
var _ = a.Entry{Action: "thing.from_b"}
`)
	write("b/b_test.go", `package b
var _ = a.Entry{Action: "thing.in_a_test"}
`)
	got := auditedActions(t, []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")})
	var actions []string
	for _, f := range got {
		actions = append(actions, f.action)
	}
	if want := []string{"thing.done", "thing.from_b", "thing.literal", "thing.other"}; !slices.Equal(actions, want) {
		t.Errorf("found %v, want %v", actions, want)
	}
}

// A client's data export tells its activity in sentences too: the client as "you" and the brokerage's staff by
// their role, never by name.
func TestTheExportsActivityHasASentencePerRow(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	tok := staffLogin(t, base, ten, "compliance").AccessToken
	r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?status=kyc_approved&limit=1", tok, nil)
	var list struct{ Items []clients.ClientResponse }
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("an approved client: %d %.300s", r.status, r.body)
	}
	id := list.Items[0].ID
	if r := request(t, base, hostOf(ten), "POST", "/api/v1/clients/"+id+"/status", tok,
		clients.StatusChangeRequest{Action: "suspend", Reason: "card chargeback"}); r.status != 200 {
		t.Fatalf("suspend: %d %.300s", r.status, r.body)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/clients/"+id+"/export", nil)
	req.Host = hostOf(ten)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("export: %d: %v", res.StatusCode, err)
	}
	var activity []struct{ Action, Sentence string }
	for _, f := range zr.File {
		if f.Name == "activity.json" {
			rc, _ := f.Open()
			err = json.NewDecoder(rc).Decode(&activity)
			rc.Close()
		}
	}
	if err != nil || len(activity) == 0 {
		t.Fatalf("activity.json: %v (%d rows)", err, len(activity))
	}
	name := list.Items[0].FirstName + " " + list.Items[0].LastName
	var sentences []string
	for _, row := range activity {
		if row.Sentence == "" || strings.Contains(row.Sentence, " recorded "+row.Action) {
			t.Errorf("%s has no sentence of its own: %q", row.Action, row.Sentence)
		}
		sentences = append(sentences, row.Sentence)
	}
	for _, want := range []string{name + " registered on the portal",
		fmt.Sprintf("Status of %s changed from KYC approved to Suspended by a member of staff: card chargeback", name)} {
		if !slices.Contains(sentences, want) {
			t.Errorf("the export's sentences lack %q: %q", want, sentences)
		}
	}
	if strings.Contains(strings.Join(sentences, "|"), "Colin") {
		t.Error("the export names the brokerage's staff")
	}
}

func writeFile(path, src string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(src), 0o644)
}
