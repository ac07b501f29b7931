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

	"golang.org/x/term"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/operators"
)

func runOperators(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("operators: want create\n\n%s", usage)
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

// operatorsCommand runs `operators create --email E --name N`.
func operatorsCommand(ctx context.Context, ops *operators.Service, args []string, pw passwordSource, out io.Writer) error {
	fs := flag.NewFlagSet("operators "+args[0], flag.ContinueOnError)
	email := fs.String("email", "", "the operator's email (their sign-in name)")
	name := fs.String("name", "", "the operator's full name")
	if err := fs.Parse(args[1:]); err != nil {
		return err
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
