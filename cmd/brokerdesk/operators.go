package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/operators"
)

func runOperators(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("operators: want create, list, disable, enable or reset-2fa\n\n%s", usage)
	}
	return withApp(ctx, func(a *app) error {
		ops, err := newOperators(a)
		if err != nil {
			return err
		}
		return operatorsCommand(ctx, ops, args, passwordSource{in: os.Stdin, getenv: os.Getenv, prompt: os.Stderr}, os.Stdout)
	})
}

// passwordSource is where `operators create` reads the password: BD_OPERATOR_PASSWORD if set; else a prompt
// without echo when stdin is a terminal; else stdin's first line (for scripts: `... < secret-file`).
type passwordSource struct {
	in     io.Reader
	getenv func(string) string
	prompt io.Writer
}

func (p passwordSource) read() (string, error) {
	if pw := p.getenv("BD_OPERATOR_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f, ok := p.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(label string) (string, error) {
			fmt.Fprint(p.prompt, label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(p.prompt)
			return string(b), err
		}
		pw, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		again, err := ask("Repeat password: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("operators create: the passwords differ")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(p.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// operatorsCommand runs `operators create|list|disable|enable|reset-2fa`.
func operatorsCommand(ctx context.Context, ops *operators.Service, args []string, pw passwordSource, out io.Writer) error {
	fs := flag.NewFlagSet("operators "+args[0], flag.ContinueOnError)
	email := fs.String("email", "", "the operator's email (their sign-in name)")
	name := fs.String("name", "", "the operator's full name (create)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "create":
	case "list":
		list, err := ops.List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "EMAIL\tNAME\tSTATUS\t2FA\tCREATED")
		for _, op := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\n", op.Email, op.Name, op.Status, op.TOTPEnabled, op.CreatedAt.UTC().Format("2006-01-02 15:04"))
		}
		return w.Flush()
	case "disable", "enable", "reset-2fa":
		if *email == "" {
			return fmt.Errorf("operators %s: --email is required", args[0])
		}
		var err error
		if args[0] == "reset-2fa" {
			err = ops.ResetTOTP(ctx, *email)
		} else {
			err = ops.SetActive(ctx, *email, args[0] == "enable")
		}
		if errors.Is(err, operators.ErrNotFound) {
			return fmt.Errorf("operators %s: no operator with email %s", args[0], operators.NormalizeEmail(*email))
		}
		if err != nil {
			return err
		}
		done := map[string]string{
			"disable":   "disabled; their sessions are ended",
			"enable":    "enabled",
			"reset-2fa": "two-factor sign-in reset and sessions ended; they sign in with the password and enrol again",
		}[args[0]]
		fmt.Fprintf(out, "operator %s %s\n", operators.NormalizeEmail(*email), done)
		return nil
	default:
		return fmt.Errorf("operators: unknown subcommand %q\n\n%s", args[0], usage)
	}
	if *email == "" || *name == "" {
		return errors.New("operators create: --email and --name are required")
	}
	password, err := pw.read()
	if err != nil {
		return fmt.Errorf("operators create: reading the password: %w", err)
	}
	op, err := ops.Create(ctx, *email, *name, password)
	var pe *auth.PasswordError
	switch {
	case errors.As(err, &pe):
		msgs := make([]string, len(pe.Problems))
		for i, p := range pe.Problems {
			msgs[i] = p.Message
		}
		return fmt.Errorf("operators create: the password is refused: %s", strings.Join(msgs, "; "))
	case errors.Is(err, operators.ErrEmailTaken):
		return fmt.Errorf("operators create: an operator with email %s already exists (nothing changed)", operators.NormalizeEmail(*email))
	case err != nil:
		return fmt.Errorf("operators create: %w", err)
	}
	fmt.Fprintf(out, "operator %s (%s) created with id %s; sign in at the console and enrol two-factor sign-in\n", op.Email, op.Name, op.ID)
	return nil
}
