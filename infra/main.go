// Command infra is the Hourglass CDK app: it reads the settings from the CDK
// context (cdk.json, `cdk -c key=value`, or CDK_CONTEXT_JSON), builds the
// Hourglass stack and synthesizes it into CDK_OUTDIR (cdk.out under the CDK
// CLI). See README.md for the settings.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	placeholders := flag.Bool("placeholder-assets", false,
		"use empty placeholder Lambda code instead of build/lambda (template linting only; never deploy the result)")
	flag.Parse()
	defer jsii.Close()
	if err := run(*placeholders); err != nil {
		fmt.Fprintln(os.Stderr, "hourglass infra:", err)
		os.Exit(1)
	}
}

func run(placeholders bool) error {
	app := awscdk.NewApp(nil)
	props, stackName, err := PropsFromContext(app.Node())
	if err != nil {
		return err
	}
	resolved, err := props.withDefaults()
	if err != nil {
		return err
	}
	if placeholders {
		dir, err := PlaceholderLambdaAssets("")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		props.LambdaAssetDir = dir
	} else if err := checkLambdaAssets(resolved.LambdaAssetDir); err != nil {
		return err
	}
	// Deploy-time environment when the CLI knows it; environment-agnostic
	// otherwise, so synth needs no credentials.
	if account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); account != "" && region != "" {
		props.Env = &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	}
	stack := NewHourglassStack(app, stackName, props)
	c := contextReader{node: app.Node()}
	if nag := c.bool(CtxNag); nag == nil || *nag {
		ApplyNag(stack)
	}
	if len(c.errs) > 0 {
		return c.errs[0]
	}
	app.Synth(nil)
	return nil
}
