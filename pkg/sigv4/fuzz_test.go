package sigv4_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzVerify signs arbitrary requests with the SDK's signer and checks that
// the verifier accepts each as sent and refuses it once its body changes;
// and that an arbitrary Authorization header never panics it or passes.
func FuzzVerify(f *testing.F) {
	f.Add("GET", "/schedules/a", "NamePrefix=x&MaxResults=3", "", "AWS4-HMAC-SHA256 Credential=dev-acme/20261203/us-east-1/scheduler/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	f.Add("POST", "/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A1%3Aschedule-group%2Fdefault", "", `{"Tags":[]}`, "AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=")
	f.Add("DELETE", "/tags/x", "TagKeys=b&TagKeys=a&TagKeys=a", "", "Bearer dev-acme")
	f.Add("PUT", "/schedules/%E2%82%AC~._-", "a=%2F%20+&b", "{}", "AWS4-HMAC-SHA256 Credential=dev-acme/20261203/us-east-1/scheduler/aws4_request,SignedHeaders=host,Signature=zz,Signature=zz")
	f.Fuzz(func(t *testing.T, method, path, query, body, authz string) {
		if method == "" || len(method) > 16 || strings.Trim(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return
		}
		u, err := url.Parse("http://h" + path)
		if err != nil || u.Host != "h" || !strings.HasPrefix(path, "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(path, "#") {
			return
		}
		if strings.ContainsAny(query, "# ") || strings.Contains(path, " ") || strings.IndexFunc(path+query, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		r := signed(t, method, target, body, "dev-acme", "dev", "scheduler", now)
		tenant, err := verifier().Verify(context.Background(), r, []byte(body))
		require.NoError(t, err, "%s %s", method, target)
		require.Equal(t, "acme", tenant)
		_, err = verifier().Verify(context.Background(), r, []byte(body+"x"))
		require.Error(t, err)

		r.Header.Set("Authorization", authz)
		_, err = verifier().Verify(context.Background(), r, []byte(body))
		require.Error(t, err)
		require.NotEmpty(t, code(err))
	})
}
