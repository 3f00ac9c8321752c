"""Train the stylecontent head on cached features and write a detector bundle (seed 004).

    python scripts/stylecontent_train.py configs/stylecontent_sbi.yaml [--set key=value ...]

See `fakescope.families.stylecontent.train` and docs/stylecontent.md.
"""

from fakescope.families.stylecontent.train import main

if __name__ == "__main__":
    raise SystemExit(main())
