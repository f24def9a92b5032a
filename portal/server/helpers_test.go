package server_test

import (
	"errors"

	"tzportal/portal"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func portalActor() portal.Actor { return portal.Actor{System: "test"} }
