"""distaff's version, for the modules that report it (the package root re-exports it): they
import it from here, not from the root, which would pull in the whole app."""

__version__ = "0.1.0"
