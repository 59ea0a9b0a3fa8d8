module github.com/herd-sse/herd/sse

go 1.26.0
