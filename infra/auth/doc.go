// Package auth holds the credential and token primitives BrokerDesk's identity rests on: Ed25519-signed access
// tokens with key rotation (KeyRing), opaque refresh tokens and the rule that rotates them (Rotate), argon2id
// password hashes and the password policy (Hasher, CheckPassword), TOTP second factors and recovery codes, and the
// login lockout rule (LockoutPolicy).
//
// It is deliberately free of storage, HTTP and tenants: every function here is either pure or needs nothing but
// randomness and a clock, so the rules can be tested exhaustively in isolation and the identity module decides where
// state lives and which transaction it changes in. docs/security.md is the operator's and integrator's description
// of the same rules; keep the two in step.
//
// Nothing in this package logs. Errors never contain passwords, tokens, key material or TOTP secrets, because
// callers do log errors.
package auth
