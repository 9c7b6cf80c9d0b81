"""``python -m vipps_pipeline.cli``, as the tests and the Dockerfile run it."""

from vipps_pipeline.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
