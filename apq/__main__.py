import sys

from apq.cli import main

sys.exit(main())
