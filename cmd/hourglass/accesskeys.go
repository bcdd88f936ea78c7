package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

func (a *app) accessKeysCmd() *cobra.Command {
	return a.group("access-keys", "Issue, list and revoke access keys for the EventBridge Scheduler-compatible API",
		`  hourglass access-keys create
  hourglass access-keys list
  hourglass access-keys delete AKHGEXAMPLE234567ABC`,
		a.accessKeysCreateCmd(), a.accessKeysListCmd(), a.accessKeysDeleteCmd())
}

func (a *app) accessKeysCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create",
		Short: "Issue an access key; its secret is shown this once",
		Long: `Issue an access key for your tenant: an access key ID and a secret access
key that sign requests (AWS SigV4) to the EventBridge Scheduler-compatible
API, as AWS credentials do. The secret is printed this once and cannot be
read again: keep it. A tenant holds at most 5 keys (exit 1 past that).`,
		Example: `  hourglass access-keys create
  hourglass access-keys create -o json | jq -r .secret_access_key`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			k, err := cl.CreateAccessKey(a.ctx)
			if err != nil {
				return apiFailure(err)
			}
			if a.output == "json" {
				return a.printJSON(k)
			}
			a.fields([][2]string{{"access_key_id", k.AccessKeyID}, {"secret_access_key", k.SecretAccessKey}, {"created_at", ts(k.CreatedAt)}})
			_, _ = fmt.Fprintln(a.stderr, "The secret access key is shown only now: store it.")
			return nil
		},
	}
}

func (a *app) accessKeysListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List your access keys (IDs and creation times, never secrets)",
		Example: "  hourglass access-keys list -o json | jq -r '.access_keys[].access_key_id'",
		Args:    noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			keys, err := cl.AccessKeys(a.ctx)
			if err != nil {
				return apiFailure(err)
			}
			if keys == nil {
				keys = []client.AccessKey{}
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"access_keys": keys})
			}
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, []string{k.AccessKeyID, ts(k.CreatedAt)})
			}
			a.table([]string{"ACCESS KEY ID", "CREATED"}, rows)
			return nil
		},
	}
}

func (a *app) accessKeysDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Revoke an access key",
		Long: `Revoke an access key: requests signed with it are refused within 60
seconds (API instances cache decrypted secrets that long). Exit 3 when no
key of yours has this ID.`,
		Example: "  hourglass access-keys delete AKHGEXAMPLE234567ABC",
		Args:    exactArgs(1, "one access key ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := a.conn()
			if err != nil {
				return err
			}
			if err := cl.DeleteAccessKey(a.ctx, args[0]); err != nil {
				return apiFailure(err)
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"access_key_id": args[0], "revoked": true})
			}
			_, _ = fmt.Fprintf(a.stdout, "revoked %s\n", args[0])
			return nil
		},
	}
}
