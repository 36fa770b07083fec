// Package greeting is shared by the example's commands: editing it changes every image.
package greeting

import (
	"fmt"
	"runtime"

	"github.com/google/uuid"
)

// Hello says who is speaking, from which platform, with a name-based UUID (the third-party module).
func Hello(who string) string {
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://example.com/"+who))
	return fmt.Sprintf("hello from %s on %s/%s (%s)", who, runtime.GOOS, runtime.GOARCH, id)
}
