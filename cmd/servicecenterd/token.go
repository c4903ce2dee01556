package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/servicecenterd/servicecenterd/internal/auth"
)

// tokenPrefix starts every generated token, so that a leaked one is easy
// to recognise (secret scanners).
const tokenPrefix = "scd_"

const tokenUsage = `Usage:
  servicecenterd token generate   print a new random token and its token_sha256 for the clients file
  servicecenterd token hash       read a token from standard input and print its token_sha256
`

// runToken is `servicecenterd token`: `token generate` makes a new random
// bearer token and prints it with its hash for the clients file; `token
// hash` prints the hash of a token read from standard input (never from
// the command line, where other users could see it).
func runToken(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprint(stderr, tokenUsage)
		return errors.New("token: want generate or hash")
	}
	switch args[0] {
	case "generate":
		token := generateToken()
		fmt.Fprintf(stdout, "token:        %s\ntoken_sha256: %s\n\n", token, auth.HashToken(token))
		fmt.Fprintln(stdout, "Give the token to the client (it sends Authorization: Bearer <token>); put only token_sha256 in the clients file.")
		return nil
	case "hash":
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("token hash: read standard input: %w", err)
		}
		token := strings.TrimRight(line, "\r\n")
		if token == "" {
			return errors.New("token hash: no token on standard input (printf %s \"$TOKEN\" | servicecenterd token hash)")
		}
		fmt.Fprintln(stdout, auth.HashToken(token))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, tokenUsage)
		return nil
	}
	fmt.Fprint(stderr, tokenUsage)
	return fmt.Errorf("token: unknown command %q", args[0])
}

// generateToken returns a new token: TokenPrefix and 32 random bytes in
// base64url.
func generateToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}
