package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCreateIsTheRoutesCreate checks that Create (the ingest function's way
// in) behaves as POST /v1/tasks: the same validation, the same idempotency
// (shared with the route's Idempotency-Key), the tenant's own task.
func TestCreateIsTheRoutesCreate(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := []byte(fmt.Sprintf(`{"due_at":%q,"target":{"kind":"webhook","url":%q}}`, due, s.Sink.URL+"/hook"))

	v, created, p := s.API.Create(ctx, zerolog.Nop(), "acme", body, "evt-1")
	require.Nil(t, p)
	assert.True(t, created)
	assert.Equal(t, "SCHEDULED", string(v.State))

	again, created, p := s.API.Create(ctx, zerolog.Nop(), "acme", body, "evt-1")
	require.Nil(t, p)
	assert.False(t, created, "a replayed token returns the task")
	assert.Equal(t, v.ID, again.ID)

	// The route sees the same task under the same key and body.
	r := call(t, s, http.MethodPost, "/v1/tasks", "acme", body, "Idempotency-Key", "evt-1")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, v.ID, r.body["id"])
	assert.Equal(t, http.StatusNotFound, call(t, s, http.MethodGet, "/v1/tasks/"+v.ID, "globex", nil).code)

	other := []byte(fmt.Sprintf(`{"due_at":%q,"target":{"kind":"webhook","url":%q}}`, due, s.Sink.URL+"/other"))
	_, _, p = s.API.Create(ctx, zerolog.Nop(), "acme", other, "evt-1")
	require.NotNil(t, p)
	assert.Equal(t, http.StatusUnprocessableEntity, p.Status)

	_, _, p = s.API.Create(ctx, zerolog.Nop(), "acme", []byte(`{"target":{"kind":"webhook","url":"ftp://x"}}`), "evt-2")
	require.NotNil(t, p)
	assert.Equal(t, http.StatusBadRequest, p.Status)
	var fields []string
	for _, fe := range p.Errors {
		fields = append(fields, fe.Field)
	}
	assert.Contains(t, fields, "due_at")
	assert.Contains(t, fields, "target.url")

	_, _, p = s.API.Create(ctx, zerolog.Nop(), "", body, "evt-3")
	require.NotNil(t, p)
	assert.Equal(t, "tenant", p.Errors[0].Field)
}
