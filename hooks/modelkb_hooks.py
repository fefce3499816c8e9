"""MkDocs hooks for this site: every event handed to one modelkb plugin object.

Settings live under ``extra.modelkb`` in mkdocs.yml. Another site can skip this file and
list ``plugins: [modelkb]`` instead (settings under the plugin's entry).
"""

from modelkb.site.plugin import ModelkbPlugin

plugin = ModelkbPlugin(from_extra=True)

on_startup = plugin.on_startup
on_config = plugin.on_config
on_files = plugin.on_files
on_nav = plugin.on_nav
on_page_markdown = plugin.on_page_markdown
on_page_content = plugin.on_page_content
on_page_context = plugin.on_page_context
on_template_context = plugin.on_template_context
on_post_page = plugin.on_post_page
on_post_template = plugin.on_post_template
on_post_build = plugin.on_post_build
on_serve = plugin.on_serve
on_build_error = plugin.on_build_error
on_shutdown = plugin.on_shutdown
