import os

import lxml
from lxml import etree

XSLT = b"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/"><names><xsl:for-each select="//item"><n><xsl:value-of select="@name"/></n></xsl:for-each></names></xsl:template>
</xsl:stylesheet>"""


def run(tmp):
    doc = etree.fromstring(b"<root><item name='a' v='1'/><item name='b' v='2'/><item name='c' v='3'/></root>")
    total = sum(int(v) for v in doc.xpath("//item/@v"))
    out = etree.XSLT(etree.fromstring(XSLT))(doc)
    path = os.path.join(tmp, "out.xml")
    out.write(path, pretty_print=True, xml_declaration=True, encoding="utf-8")
    names = etree.parse(path).xpath("//n/text()")
    assert names == ["a", "b", "c"] and total == 6
    return f"lxml {lxml.__version__} (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}): xpath sum {total}, xslt {names}"
