package main

import (
	"context"
	"io"
)

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int   { return 1 }
func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int  { return 1 }
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int { return 1 }
