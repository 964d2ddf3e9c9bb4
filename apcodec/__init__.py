"""APCodec / APCodec+ / APCodec-S: amplitude-and-phase spectrum codecs."""
