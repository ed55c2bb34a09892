"""Configuration: ``schema`` (every key, once: files, environment, flags and docs come
from it), ``values`` (parsing and rendering one value), ``yaml`` (files with line
numbers), ``load`` (sources and precedence). Import the module you need; this package
imports nothing, so naming one part does not load the others."""
