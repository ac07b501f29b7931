package blob_test

import (
	"os"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

func TestMain(m *testing.M) { os.Exit(localsvc.RunTests(m, localsvc.MinIO)) }
