"""MkDocs hooks for modelkb: each event handed to the package, no logic of its own."""

from __future__ import annotations

from modelkb import site


def on_startup(command, dirty):
    return site.on_startup(command, dirty)


def on_config(config):
    return site.on_config(config)


def on_files(files, config):
    return site.on_files(files, config)


def on_page_markdown(markdown, page, config, files):
    return site.on_page_markdown(markdown, page, config, files)


def on_post_page(output, page, config):
    return site.on_post_page(output, page, config)


def on_post_template(output_content, template_name, config):
    return site.on_post_template(output_content, template_name, config)


def on_post_build(config):
    return site.on_post_build(config)
