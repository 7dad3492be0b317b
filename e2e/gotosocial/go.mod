// This module exists only to pin the GoToSocial source that build.sh compiles
// for the end-to-end tests. It has no Go code of its own; it is excluded from
// the main module's ./... patterns because it has its own go.mod.
module github.com/syndicate-bot/syndicate/e2e/gotosocial

go 1.26.8

require github.com/superseriousbusiness/gotosocial v0.18.3
