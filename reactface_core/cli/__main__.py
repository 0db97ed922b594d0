import sys

from reactface_core.cli import main

sys.exit(main())
