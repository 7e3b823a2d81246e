package daemon

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// CheckOTLPEndpoint reports whether endpoint is a usable OTLP/gRPC
// collector URL: http://host:port (plaintext) or https://host:port.
func CheckOTLPEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("OTLP endpoint %q: want http://host:port (plaintext) or https://host:port", endpoint)
	}
	return nil
}

// startTracing exports a span per check to the OTLP/gRPC collector at
// endpoint, in batches from a bounded queue that drops rather than delays a
// check. A check whose request carries a sampled trace context is traced;
// of the others, the share ratio is.
func startTracing(ctx context.Context, endpoint string, ratio float64, version string) (trace.Tracer, func(context.Context) error, error) {
	if err := CheckOTLPEndpoint(endpoint); err != nil {
		return nil, nil, err
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "hookguard"),
			attribute.String("service.version", orUnknown(version)),
		)),
	)
	return tp.Tracer("github.com/hookguard/hookguard/authz/daemon"), tp.Shutdown, nil
}
