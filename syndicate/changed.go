package syndicate

import "errors"

// ErrChanged is returned by a step of the state that found it changed by
// another replica since the caller read it — articles a new digest would
// carry went into another replica's digest meanwhile. Nothing was
// written: read the state again and decide again.
var ErrChanged = errors.New("the state changed meanwhile: another replica got there first")
